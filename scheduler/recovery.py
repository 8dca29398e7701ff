"""Settle runs left ``dispatching``: claimed, but no node confirmed the job.

That happens when a daemon dies between claiming a fire time and hearing back
from Scrapyd (``kill -9``, a crash, a lost machine), or when every node failed
and one of them timed out (it may have queued the job regardless). The job id
was chosen at claim time, so the nodes can be asked whether they have it:

* a node lists it: the run is adopted (pending or running there);
* every node answered and none has it: it was never started, so it is
  dispatched now with the same job id if the fire time is still within the
  grace period (or it was a manual run), otherwise recorded ``missed``;
* some node did not answer: wait, and give up (``failed``) only after
  ``SCRAPERQ_JOB_LOST_AFTER``.

A row is only looked at once any dispatch of it must have finished
(``SchedulerConfig.settle_after`` after its claim; the daemon does not start
sending a claim older than ``dispatch_start_limit``), so a dispatch still in
flight in another process (``scraperq schedule run``, or a leader that has just
lost its lock) is not taken for an abandoned one; this process's own claims,
queued or under way, are never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from scheduler.dispatch import Dispatcher
from scheduler.firing import claimed_run
from scheduler.nodes import NodePool, ask_all
from scheduler.scrapyd import FINISHED, RUNNING, JobListing, Node, NodeError, ScrapydClient
from scraperq.storage import jobs, schedules
from scraperq.storage.connection import Database, utcnow
from scraperq.storage.jobs import JobRun

logger = logging.getLogger(__name__)


class Recovery:
    def __init__(
        self,
        db: Database,
        client: ScrapydClient,
        pool: NodePool,
        dispatcher: Dispatcher,
        *,
        settle_after: float,
        grace: float,
        lost_after: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.client = client
        self.pool = pool
        self.dispatcher = dispatcher
        self.settle_after = timedelta(seconds=settle_after)
        self.grace = timedelta(seconds=grace)
        self.lost_after = timedelta(seconds=lost_after)
        self.clock = clock

    def settle(self) -> int:
        """Look at every unconfirmed run old enough; return how many were settled."""
        now = self.clock()
        ours = self.dispatcher.in_flight()
        runs = [
            r
            for r in jobs.runs_with_status(self.db, ("dispatching",))
            if r.id not in ours and (r.created_at is None or now - r.created_at >= self.settle_after)
        ]
        if not runs:
            return 0
        listings = dict(zip([n.name for n in self.pool.nodes], ask_all(self.pool.nodes, self._listing), strict=True))
        return sum(self._settle(run, listings, now) for run in runs)

    def _settle(self, run: JobRun, listings: dict[str, JobListing | str], now: datetime) -> bool:
        job_id = run.scrapyd_job_id or ""
        holders = [
            (name, listing.state(job_id))
            for name, listing in listings.items()
            if isinstance(listing, JobListing) and listing.state(job_id)
        ]
        if holders:
            name, state = holders[0]
            status = "running" if state in (RUNNING, FINISHED) else "pending"
            jobs.mark_accepted(self.db, run.id, node=name, status=status, at=now)
            logger.warning("Run %s: found job %s on %s after all; following it there", run.id, job_id, name)
            for other, _state in holders[1:]:
                self._cancel_copy(other, job_id)
            return True
        silent = [str(v) for v in listings.values() if not isinstance(v, JobListing)]
        if silent:
            if run.created_at is not None and now - run.created_at >= self.lost_after:
                error = "could not confirm whether a node took the job: " + "; ".join(silent)
                return jobs.mark_final(self.db, run.id, status="failed", at=now, error=error)
            return False
        return self._dispatch_again(run, now)

    def _dispatch_again(self, run: JobRun, now: datetime) -> bool:
        with self.db.transaction() as cur:
            schedule = schedules.get_schedule_by_id(cur, run.schedule_id) if run.schedule_id is not None else None
        fire_time = run.fire_time or now
        if schedule is None:
            return jobs.mark_final(
                self.db, run.id, status="failed", at=now, error="never dispatched, and its schedule was removed"
            )
        if run.origin == "schedule" and now - fire_time > self.grace:
            return jobs.mark_final(
                self.db,
                run.id,
                status="missed",
                at=now,
                error="missed: the scheduler stopped before any node took the job, and the grace period has passed",
            )
        logger.warning("Run %s: no node has job %s; dispatching it now", run.id, run.scrapyd_job_id)
        claim = claimed_run(run.id, run.scrapyd_job_id or "", schedule, fire_time, run.created_at or now)
        self.dispatcher.dispatch(claim)
        return True

    def _cancel_copy(self, node_name: str, job_id: str) -> None:
        node: Node | None = self.pool.by_name(node_name)
        if node is None:
            return
        try:
            self.client.cancel(node, job_id)
            logger.warning("Cancelled a second copy of job %s on %s", job_id, node_name)
        except NodeError as exc:
            logger.warning("Could not cancel a second copy of job %s on %s: %s", job_id, node_name, exc)

    def _listing(self, node: Node) -> JobListing | str:
        try:
            return self.client.list_jobs(node)
        except NodeError as exc:
            return str(exc)
