"""The scheduler daemon's loop: fire due schedules, dispatch them, follow their jobs.

Why not an APScheduler scheduler: APScheduler 3.x keeps its job store per
process ("do not share a job store between schedulers"), decides misfires from
its own memory of run times, and guards ``max_instances`` only around the call
that starts a job, not the crawl it starts. Exactly-once across restarts and
across daemons needs the fire time and what became of it written in one
database transaction, so the daemon keeps its own loop and uses APScheduler
for what it does well: trigger arithmetic (``scheduler.triggers``). The job
options it would take are applied here deliberately:

* ``coalesce=True`` and ``misfire_grace_time=SCRAPERQ_MISFIRE_GRACE``: late fire
  times collapse into one run, or are recorded missed (``scheduler.firing``);
* ``max_instances=1``, enforced against the crawl itself: a fire time is skipped
  (and recorded) while the previous run is pending or running on any node.

Each pass (at most ``SCRAPERQ_SCHEDULER_TICK`` apart, sooner when a fire time
is near) reads the due schedules from the database, so changes made through
the CLI take effect without a restart or any signal. Jobs are followed every
``SCRAPERQ_SCHEDULER_TRACK_INTERVAL`` seconds in a thread of their own, so a
node slow to answer does not delay fire times. Only the leader acts
(``scheduler.leader``); other daemons stand by.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from scheduler.config import SchedulerConfig
from scheduler.dispatch import ClaimedRun, Dispatcher, Strays
from scheduler.firing import handle_due
from scheduler.leader import Leadership
from scheduler.nodes import NodePool
from scheduler.recovery import Recovery
from scheduler.scrapyd import ScrapydClient
from scheduler.tracker import JobTracker
from scraperq.errors import BadInput, StorageUnavailable
from scraperq.storage import jobs, schedules
from scraperq.storage.connection import Database, utcnow

logger = logging.getLogger(__name__)

# Dispatches made at once when many schedules fall due together.
DISPATCH_CONCURRENCY = 4
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
    ) -> None:
        self.config = config
        self.db = db
        self.pool = pool
        self.leadership = leadership
        self.clock = clock
        strays = Strays()
        self.dispatcher = Dispatcher(db, client, pool, strays=strays, clock=clock)
        self.tracker = JobTracker(db, client, pool, strays=strays, lost_after=config.job_lost_after, clock=clock)
        self.recovery = Recovery(
            db,
            client,
            pool,
            self.dispatcher,
            settle_after=config.dispatch_deadline,
            grace=config.misfire_grace,
            lost_after=config.job_lost_after,
            clock=clock,
        )
        self._stop = threading.Event()
        self._unusable: set[int] = set()  # schedules whose trigger cannot be built, reported once
        self._failing: set[str] = set()  # steps that found the database down (reported once)
        self._health_lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the loop to stop after the current step (safe to call from a signal handler)."""
        self._stop.set()

    def run(self) -> None:
        """Fire schedules in this thread and follow jobs in another, until :meth:`request_stop`."""
        self.leadership.start()
        tracking = threading.Thread(target=self._track_loop, name="scheduler-tracker", daemon=True)
        tracking.start()
        try:
            while not self._stop.is_set():
                delay = self.config.tick
                if self.leadership.is_leader.is_set():
                    delay = self._guarded("firing", self._fire_step)
                self._stop.wait(delay)
        finally:
            self._stop.set()
            tracking.join(timeout=self.config.dispatch_deadline + 5)
            self.leadership.stop()
            logger.info("Scheduler stopped")

    def _fire_step(self) -> float:
        self.fire_due(self.clock())
        return self._sleep_for()

    def _track_loop(self) -> None:
        # Its own thread: a node slow to answer listjobs.json must not hold back fire times.
        while not self._stop.wait(self.config.track_interval):
            if self.leadership.is_leader.is_set():
                self._guarded("tracking", self.follow_jobs)

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
        claims: list[ClaimedRun] = []
        for schedule in schedules.due_schedules(self.db, now):
            if self._stop.is_set() or not self.leadership.is_leader.is_set():
                break
            claim = self._fire(schedule, now)
            if claim is not None:
                claims.append(claim)
        if len(claims) > 1:
            with ThreadPoolExecutor(min(DISPATCH_CONCURRENCY, len(claims)), thread_name_prefix="dispatch") as pool:
                list(pool.map(self.dispatcher.dispatch, claims))
        elif claims:
            self.dispatcher.dispatch(claims[0])
        return claims

    def _fire(self, schedule: schedules.Schedule, now: datetime) -> ClaimedRun | None:
        # Bring the previous runs up to date first: one that has just ended must not cause a skip.
        previous = jobs.runs_with_status(self.db, ("pending", "running"), schedule_id=schedule.id)
        if previous:
            self.tracker.follow(previous)
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
