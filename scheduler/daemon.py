"""The scheduler daemon's loop: fire due schedules, dispatch them, follow their jobs.

Why not an APScheduler scheduler: APScheduler 3.x keeps its job store per
process ("do not share a job store between schedulers"), decides misfires from
its own memory of run times, and guards ``max_instances`` only around the call
that starts a job, not the crawl it starts. Exactly-once across restarts and
across daemons needs the fire time and what became of it written in one
database transaction, so the daemon keeps its own loop, with fire times from
``scheduler.triggers``. The job options APScheduler would take are applied here
deliberately:

* ``coalesce=True`` and ``misfire_grace_time=SCRAPERQ_MISFIRE_GRACE``: late fire
  times collapse into one run, or are recorded missed (``scheduler.firing``);
* ``max_instances=1``, enforced against the crawl itself: a fire time is skipped
  (and recorded) while the previous run is pending or running on any node.

Each pass (at most ``SCRAPERQ_SCHEDULER_TICK`` apart, sooner when a fire time
is near, at once when the API asks) reads the due schedules and the run
requests from the database, so changes made through the CLI, on any machine,
take effect without a restart or any signal. Jobs are followed every
``SCRAPERQ_SCHEDULER_TRACK_INTERVAL`` seconds in a thread of their own, so a
node slow to answer does not delay fire times. Only the leader acts
(``scheduler.leader``); other daemons stand by.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from scheduler.alerts import Alerts
from scheduler.config import SchedulerConfig
from scheduler.dispatch import ClaimedRun, Dispatcher, Strays
from scheduler.firing import claim_request, handle_due
from scheduler.leader import Leadership
from scheduler.maintenance import Maintenance
from scheduler.nodes import NodePool
from scheduler.recovery import Recovery
from scheduler.scrapyd import ScrapydClient
from scheduler.tracker import JobTracker
from scraperq.errors import BadInput, StorageUnavailable
from scraperq.storage import jobs, schedules
from scraperq.storage.connection import Database, utcnow

logger = logging.getLogger(__name__)

# Fire times claimed at once when many schedules fall due together (each on its own connection).
CLAIM_CONCURRENCY = 8
# Never spin: even with work waiting, give the database and the nodes a breath.
_MIN_SLEEP = 0.01


class SchedulerDaemon:
    def __init__(
        self,
        config: SchedulerConfig,
        db: Database,
        client: ScrapydClient,
        pool: NodePool,
        leadership: Leadership,
        *,
        clock: Callable[[], datetime] = utcnow,
        wait: Callable[[threading.Event, float], bool] | None = None,
    ) -> None:
        """``clock`` and ``wait`` (sleep on an event, at most so long; True if it was set) are the loop's
        notion of time: tests drive the loop through a day in moments by giving their own."""
        self.config = config
        self.db = db
        self.pool = pool
        self.leadership = leadership
        self.clock = clock
        strays = Strays()
        self.dispatcher = Dispatcher(db, client, pool, strays=strays, clock=clock)
        self.tracker = JobTracker(
            db,
            client,
            pool,
            strays=strays,
            lost_after=config.job_lost_after,
            silent_after=config.job_silent_after,
            clock=clock,
        )
        self.recovery = Recovery(
            db,
            client,
            pool,
            self.dispatcher,
            settle_after=config.settle_after,
            grace=config.misfire_grace,
            lost_after=config.job_lost_after,
            clock=clock,
        )
        self._stop = threading.Event()
        self._wakeup = threading.Event()  # set by request_stop and wake
        self._wait = wait or (lambda event, seconds: event.wait(seconds))
        self._unusable: set[int] = set()  # schedules whose trigger cannot be built, reported once
        self._failing: set[str] = set()  # steps that found the database down (reported once)
        self._health_lock = threading.Lock()
        self._crash: BaseException | None = None
        # Set while run() runs: fire times are claimed in the loop and dispatched here, so a slow
        # node delays the jobs it is sent, not the claiming of the next fire times.
        self._dispatching: ThreadPoolExecutor | None = None
        self._claiming: ThreadPoolExecutor | None = None
        # Events for a webhook (scheduler.alerts), looked for and sent in threads of their own while run() runs.
        self.alerts: Alerts | None = None
        # The daily retention run (scheduler.maintenance), started by the leader in a thread of its own;
        # scheduler.app sets it from the settings.
        self.maintenance: Maintenance | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the loop to stop after the current step (safe to call from a signal handler)."""
        self._stop.set()
        self._wakeup.set()

    def wake(self) -> None:
        """Make the loop look at the database now (a run was just requested)."""
        self._wakeup.set()

    def run(self) -> None:
        """Fire schedules in this thread, dispatch and follow jobs in others, until :meth:`request_stop`."""
        self.leadership.start()
        tracking = threading.Thread(target=self._track_loop, name="scheduler-tracker", daemon=True)
        tracking.start()
        # Dispatches run in parallel across nodes and connections: so many per node at once.
        workers = max(1, self.config.dispatch_concurrency * len(self.config.nodes))
        self._dispatching = ThreadPoolExecutor(workers, thread_name_prefix="dispatch")
        self._claiming = ThreadPoolExecutor(CLAIM_CONCURRENCY, thread_name_prefix="claim")
        if self.alerts is not None:
            self.alerts.start(self.leadership.is_leader)
        try:
            while not self._stop.is_set():
                delay = self.config.tick
                if self.leadership.is_leader.is_set():
                    delay = self._guarded("firing", self._fire_step)
                self._wait(self._wakeup, delay)
                self._wakeup.clear()
        finally:
            self._stop.set()
            if self.alerts is not None:
                self.alerts.stop()
            if self.maintenance is not None:
                self.maintenance.join(timeout=self.config.dispatch_deadline + 5)
            # Claims already made are dispatched before the daemon goes: their fire time is now.
            self._claiming.shutdown(wait=True)
            self._claiming = None
            self._dispatching.shutdown(wait=True)
            self._dispatching = None
            tracking.join(timeout=self.config.dispatch_deadline + 5)
            self.leadership.stop()
            logger.info("Scheduler stopped")
        if self._crash is not None:
            raise self._crash

    def _fire_step(self) -> float:
        now = self.clock()
        self.fire_due(now)
        if self.maintenance is None:
            return self._sleep_for()
        self.maintenance.tick(now)
        return min(self._sleep_for(), max(_MIN_SLEEP, self.maintenance.seconds_until_due(now)))

    def _track_loop(self) -> None:
        # Its own thread: a node slow to answer listjobs.json must not hold back fire times.
        try:
            self.pool.check_project()
            while not self._stop.wait(self.config.track_interval):
                if self.leadership.is_leader.is_set():
                    self._guarded("tracking", self.follow_jobs)
        except BaseException as exc:
            self._crashed(exc)

    def _crashed(self, exc: BaseException) -> None:
        # A bug, not an outage: stop the whole daemon, which raises it (its supervisor restarts
        # it), rather than go on firing schedules whose jobs nobody dispatches or follows.
        if self._crash is None:
            self._crash = exc
        self._stop.set()

    def _guarded(self, what: str, step: Callable[[], float | None]) -> float:
        """Run one step; a database outage is reported once and waited out, not fatal."""
        try:
            delay = step()
        except StorageUnavailable as exc:
            with self._health_lock:
                if what not in self._failing:
                    logger.error("Database unavailable (%s), will keep trying: %s", what, exc)
                self._failing.add(what)
            return self.config.tick
        with self._health_lock:
            if what in self._failing:
                logger.info("Database reachable again (%s)", what)
                self._failing.discard(what)
        return self.config.tick if delay is None else delay

    # -- one pass -----------------------------------------------------------------------

    def follow_jobs(self) -> None:
        """Bring every dispatched job up to date, and settle runs no node confirmed."""
        self.tracker.poll()
        self.recovery.settle()

    def fire_due(self, now: datetime) -> list[ClaimedRun]:
        """Claim every run requested and every fire time due at ``now``, and dispatch the claims (in the
        background under :meth:`run`)."""
        claims: list[ClaimedRun] = []
        for run in jobs.runs_with_status(self.db, ("requested",)):
            if self._stop.is_set() or not self.leadership.is_leader.is_set():
                return claims
            claim = claim_request(self.db, run, now, expire_after=self.config.misfire_grace)
            if claim is not None:
                claims.append(claim)
                self._send(claim)
        due = schedules.due_schedules(self.db, now)
        if not due:
            return claims
        # Bring the previous runs of these schedules up to date first, in one round of the nodes:
        # a run that has just ended must not cause a skip.
        wanted = {s.id for s in due}
        previous = [r for r in jobs.runs_with_status(self.db, ("pending", "running")) if r.schedule_id in wanted]
        if previous:
            self.tracker.follow(previous)
        claiming = self._claiming
        if claiming is None:
            found = (self._fire(schedule, now) for schedule in due)
        else:  # each claim is one transaction on its own connection: many at once
            found = claiming.map(lambda schedule: self._fire(schedule, now), due)
        for claim in found:
            if claim is not None:
                claims.append(claim)
                self._send(claim)
        return claims

    def _send(self, claim: ClaimedRun) -> None:
        executor = self._dispatching
        if executor is None:
            self.dispatcher.dispatch(claim)
        else:  # sent at once, while the next due schedules are being claimed
            self.dispatcher.hold(claim.run_id)  # recovery must not take it while it waits
            executor.submit(self._dispatch_claimed, claim).add_done_callback(self._dispatch_done)

    def _dispatch_claimed(self, claim: ClaimedRun) -> None:
        age = (self.clock() - claim.claimed_at).total_seconds()
        # A leader that lost its lock, or a claim so old that a new leader may already be settling
        # it, is left as it is: recovery asks the nodes before it dispatches anything.
        if not self.leadership.is_leader.is_set() or age > self.config.dispatch_start_limit:
            logger.warning(
                "Run %s of schedule %s left for recovery (claimed %.1f s ago)", claim.run_id, claim.schedule_name, age
            )
            self.dispatcher.release(claim.run_id)
            return
        self.dispatcher.dispatch(claim)

    def _dispatch_done(self, future: Future[None]) -> None:
        exc = future.exception()
        if isinstance(exc, StorageUnavailable):
            logger.error("Database unavailable while recording a dispatch (recovery will settle it): %s", exc)
        elif exc is not None:
            self._crashed(exc)

    def _fire(self, schedule: schedules.Schedule, now: datetime) -> ClaimedRun | None:
        if self._stop.is_set() or not self.leadership.is_leader.is_set():
            return None
        try:
            outcome = handle_due(self.db, schedule.id, now, grace=self.config.misfire_grace)
        except BadInput as exc:
            if schedule.id not in self._unusable:
                self._unusable.add(schedule.id)
                logger.error("Schedule %s cannot be fired: %s", schedule.name, exc)
            return None
        if outcome.missed:
            logger.warning("Schedule %s: %d fire time(s) recorded as missed", schedule.name, outcome.missed)
        for fire_time in outcome.skipped:
            logger.info("Schedule %s: skipped %s, its previous run is still going", schedule.name, fire_time)
        return outcome.claimed

    def _sleep_for(self) -> float:
        delay = self.config.tick
        earliest = schedules.earliest_fire_time(self.db, excluding=self._unusable)
        if earliest is not None:
            delay = min(delay, (earliest - self.clock()).total_seconds())
        return max(_MIN_SLEEP, delay)
