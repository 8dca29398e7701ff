"""Follow dispatched jobs to their end: the crawl's own reports first, Scrapyd's word otherwise.

A crawl that Scrapyd runs reports itself (``scraperq/jobreport.py``): a
heartbeat while it runs, and its end. While its heartbeat is fresh (less than
``silent_after``, six heartbeats, old) the run is alive whatever its node says:
a node killed with ``kill -9`` leaves its crawls running, and their schedule's
next fire times are skipped meanwhile. The crawl's account of its end is final
and never re-settled here. A run is lost only when its heartbeat has stopped and
its node can neither show it running nor tell how it ended.

For the rest (a job still pending, a crawl that cannot reach the database),
each pass asks every node that holds a pending or running run (all nodes at
once) and moves the rows along: pending -> running -> finished | failed, with
the job's item and task counts from the database (the crawl records Scrapyd's
``_job`` argument as ``job_id`` on its tasks and results).

Scrapyd lists a finished job without saying how it ended, so the end of its log
decides: ``Spider closed (finished)`` (or a ``closespider_*`` reason) is
``finished``; another close reason, or a log that stops before the spider
closed (the process died, or refused its arguments), is ``failed`` with that
reason. A job a node no longer lists at all (Scrapyd restarted) is ``failed``
after two passes; one whose node stays unreachable for
``SCRAPERQ_JOB_LOST_AFTER`` seconds too. A copy of a job left on a node that
timed out while another node accepted it is cancelled here.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from scheduler.dispatch import Strays
from scheduler.nodes import NodePool, ask_all
from scheduler.scrapyd import FINISHED, PENDING, RUNNING, JobListing, Node, NodeError, ScrapydClient
from scraperq.storage import jobs
from scraperq.storage.connection import Database, utcnow
from scraperq.storage.jobs import JobRun

logger = logging.getLogger(__name__)

_CLOSED = re.compile(r"Spider closed \(([^)]*)\)")
_FINISH_REASON = re.compile(r"'finish_reason': '([^']*)'")
_ERROR_LINE = re.compile(r"\] (?:ERROR|CRITICAL): (.+)$")
# Close reasons of a crawl that ended as configured.
_NORMAL_REASONS = ("finished",)
_NORMAL_PREFIXES = ("closespider_",)


def outcome_from_log(tail: str, where: str) -> tuple[str, str | None]:
    """(status, error) of a finished Scrapyd job, from the end of its log."""
    reasons = _CLOSED.findall(tail) or _FINISH_REASON.findall(tail)
    if reasons:
        reason = reasons[-1]
        if reason in _NORMAL_REASONS or reason.startswith(_NORMAL_PREFIXES):
            return "finished", None
        if reason == "shutdown":
            return "cancelled", f"cancelled: the crawl was asked to stop (log: {where})"
        return "failed", f"the spider closed with reason {reason!r} (log: {where})"
    errors = [m.group(1) for line in tail.splitlines() if (m := _ERROR_LINE.search(line))]
    detail = f": last error: {errors[-1][:300]}" if errors else ""
    return "failed", f"the crawl process ended before the spider closed{detail} (log: {where})"


class JobTracker:
    def __init__(
        self,
        db: Database,
        client: ScrapydClient,
        pool: NodePool,
        *,
        strays: Strays,
        lost_after: float,
        silent_after: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.client = client
        self.pool = pool
        self.strays = strays
        self.lost_after = timedelta(seconds=lost_after)
        self.silent_after = timedelta(seconds=silent_after)
        self.clock = clock
        self._absent: dict[int, int] = defaultdict(int)  # run id -> passes in a row its node lacked it
        self._unreachable_since: dict[str, datetime] = {}
        # The tracking thread and the firing thread (refreshing a schedule's last run) take turns.
        self._lock = threading.Lock()

    def poll(self) -> None:
        """One pass over every pending and running run."""
        runs = jobs.runs_with_status(self.db, ("pending", "running"))
        self.follow(runs, include_strays=True)

    def follow(self, runs: Iterable[JobRun], *, include_strays: bool = False) -> None:
        """Bring these runs up to date with their nodes (also used just before a fire time)."""
        with self._lock:
            self._follow(list(runs), include_strays)

    def _follow(self, runs: list[JobRun], include_strays: bool) -> None:
        by_node: dict[str, list[JobRun]] = defaultdict(list)
        now = self.clock()
        for run in runs:
            if run.node:
                by_node[run.node].append(run)
            elif run.heartbeat_at is not None and not self._alive(run, now):
                # A crawl started outside the scheduler: nothing but its heartbeat tells it is alive.
                self._finish(run, "failed", self._silent(run, "its node is not known"), now)
        names = set(by_node) | (self.strays.nodes() if include_strays else set())
        nodes = [n for n in self.pool.nodes if n.name in names]
        listings = dict(zip([n.name for n in nodes], ask_all(nodes, self._listing), strict=True))
        for name, node_runs in by_node.items():
            listing = listings.get(name)
            if isinstance(listing, JobListing):
                self._unreachable_since.pop(name, None)
                node = self.pool.by_name(name)
                assert node is not None
                for run in node_runs:
                    self._update(run, node, listing, now)
            else:
                reason = listing or f"node {name} is no longer in SCRAPYD_NODES"
                self._unreachable(name, node_runs, reason, now)
        if include_strays:
            self._cancel_strays(nodes, listings, now)
        self._refresh_counts([r for node_runs in by_node.values() for r in node_runs if r.status == "running"])

    # -- one run --------------------------------------------------------------------

    def _alive(self, run: JobRun, now: datetime) -> bool:
        """Whether the crawl has said it is alive lately (its own heartbeat, not its node's word)."""
        return run.heartbeat_at is not None and now - run.heartbeat_at <= self.silent_after

    def _silent(self, run: JobRun, why: str) -> str:
        since = run.heartbeat_at.isoformat(timespec="seconds") if run.heartbeat_at else "?"
        where = f" on {run.host} (pid {run.pid})" if run.host else ""
        return f"lost: the crawl{where} stopped reporting at {since}, and {why}"

    def _update(self, run: JobRun, node: Node, listing: JobListing, now: datetime) -> None:
        job_id = run.scrapyd_job_id or ""
        state = listing.state(job_id)
        if self._alive(run, now) and state != FINISHED:
            self._absent.pop(run.id, None)  # a node restarted since; the crawl it started lives on
            return
        if state is None:
            self._absent[run.id] += 1
            if self._absent[run.id] >= 2:
                why = f"{node.name} no longer knows job {job_id} (was Scrapyd restarted?)"
                self._finish(run, "failed", self._silent(run, why) if run.heartbeat_at else why, now)
            return
        self._absent.pop(run.id, None)
        if state == PENDING:
            return
        if state == RUNNING:
            if run.status == "pending":
                jobs.mark_running(self.db, run.id, started_at=now)
                logger.info("Job %s (%s) is running on %s", job_id, run.spider, node.name)
            return
        assert state == FINISHED
        status, error = self._outcome(node, listing.entry(job_id))
        self._finish(run, status, error, now)

    def _outcome(self, node: Node, entry: dict) -> tuple[str, str | None]:
        log_url = entry.get("log_url")
        if not log_url:  # logs_dir is off on that node: nothing to tell a failure by
            return "finished", None
        try:
            tail = self.client.log_tail(node, log_url)
        except NodeError as exc:
            logger.warning("Cannot read the log of job %s to see how it ended: %s", entry.get("id"), exc)
            return "finished", None
        return outcome_from_log(tail, node.url(log_url))

    def _finish(self, run: JobRun, status: str, error: str | None, now: datetime) -> None:
        counts = None
        if run.scrapyd_job_id:
            counts = jobs.job_counts(self.db, [run.scrapyd_job_id]).get(run.scrapyd_job_id)
        if jobs.mark_final(self.db, run.id, status=status, at=now, error=error, counts=counts):
            self._absent.pop(run.id, None)
            log = logger.info if status == "finished" else logger.warning
            log(
                "Job %s (%s) %s on %s: %d items, %d tasks (%d failed)%s",
                run.scrapyd_job_id,
                run.spider,
                status,
                run.node,
                counts.items if counts else 0,
                counts.tasks if counts else 0,
                counts.tasks_failed if counts else 0,
                f": {error}" if error else "",
            )

    def _unreachable(self, name: str, runs: list[JobRun], reason: str, now: datetime) -> None:
        since = self._unreachable_since.setdefault(name, now)
        for run in runs:
            if run.heartbeat_at is not None:
                # The crawl reports itself: alive while it beats, lost once it stops, whatever its node.
                if not self._alive(run, now):
                    self._finish(run, "failed", self._silent(run, f"its node is unreachable: {reason}"), now)
            elif now - since >= self.lost_after:
                self._finish(run, "failed", f"lost: {reason} (since {since.isoformat(timespec='seconds')})", now)

    def _refresh_counts(self, running: list[JobRun]) -> None:
        # Crawls that report themselves keep their own counts fresh.
        ids = {r.scrapyd_job_id: r.id for r in running if r.scrapyd_job_id and r.heartbeat_at is None}
        if ids:
            counts = jobs.job_counts(self.db, ids)
            jobs.set_counts(self.db, {ids[job]: c for job, c in counts.items()})

    # -- copies left on nodes that timed out ------------------------------------------

    def _cancel_strays(self, nodes: list[Node], listings: dict[str, JobListing | str], now: datetime) -> None:
        self.strays.expire(now - self.lost_after)
        for node in nodes:
            listing = listings.get(node.name)
            if not isinstance(listing, JobListing):
                continue
            for job_id in self.strays.on(node.name):
                state = listing.state(job_id)
                if state == FINISHED:  # too late to stop; the run of record is elsewhere
                    logger.warning("A duplicate of job %s already ran on %s", job_id, node.name)
                    self.strays.forget(node.name, job_id)
                elif state in (PENDING, RUNNING):
                    try:
                        self.client.cancel(node, job_id)
                    except NodeError as exc:
                        logger.warning("Could not cancel the duplicate of job %s: %s", job_id, exc)
                        continue
                    logger.warning("Cancelled a duplicate of job %s on %s (it had timed out there)", job_id, node.name)
                    self.strays.forget(node.name, job_id)
                # Not there (yet): the node may still act on the request; look again until it expires.

    def _listing(self, node: Node) -> JobListing | str:
        try:
            return self.client.list_jobs(node)
        except NodeError as exc:
            return str(exc)
