"""Hand a claimed run to Scrapyd: least-loaded node first, failing over to the others.

The run's ``job_runs`` row already exists (status ``dispatching``, job id chosen)
when this starts; the job id goes to ``schedule.json`` as ``jobid``, so the job is
known by the same id on whichever node takes it, and a node can be asked later
whether it has it.

Failing over after a node *timed out* or dropped the connection is the one way to
start a job twice: that node may have queued it anyway. Such nodes are remembered
as possible strays; the tracker cancels the job there if it turns up (the copy on
the node that answered is the run of record). When no node accepts and one of
them might have, the row stays ``dispatching`` and recovery settles it by asking
the nodes for the job id, instead of guessing.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from scheduler.nodes import NodePool
from scheduler.scrapyd import Node, NodeError, ScrapydClient
from scraperq.storage import jobs
from scraperq.storage.connection import Database, utcnow

logger = logging.getLogger(__name__)


def new_job_id() -> str:
    """A Scrapyd job id, in the form Scrapyd picks its own (32 hex digits)."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class ClaimedRun:
    """A ``job_runs`` row in ``dispatching``, with what schedule.json needs."""

    run_id: int
    job_id: str
    schedule_name: str
    spider: str
    args: dict[str, str]
    settings: dict[str, str]
    fire_time: datetime
    claimed_at: datetime


@dataclass(frozen=True)
class Dispatched:
    run: ClaimedRun
    node: str | None  # the node that accepted, if one did
    error: str | None = None
    unresolved: bool = False  # no node confirmed, but one may have taken it
    accepted_at: datetime | None = None


@dataclass
class Strays:
    """Nodes that may hold a copy of a job that another node accepted: (node name, job id) -> since."""

    entries: dict[tuple[str, str], datetime] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, node: Node, job_id: str, at: datetime) -> None:
        with self.lock:
            self.entries[(node.name, job_id)] = at

    def on(self, node_name: str) -> list[str]:
        with self.lock:
            return [job for (name, job) in self.entries if name == node_name]

    def nodes(self) -> set[str]:
        with self.lock:
            return {name for (name, _job) in self.entries}

    def forget(self, node_name: str, job_id: str) -> None:
        with self.lock:
            self.entries.pop((node_name, job_id), None)

    def expire(self, before: datetime) -> None:
        with self.lock:
            for key in [k for k, at in self.entries.items() if at < before]:
                del self.entries[key]


class Dispatcher:
    def __init__(
        self,
        db: Database,
        client: ScrapydClient,
        pool: NodePool,
        *,
        strays: Strays | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.client = client
        self.pool = pool
        self.strays = strays if strays is not None else Strays()
        self.clock = clock
        self._in_flight: set[int] = set()
        # Told the seconds from each dispatched run's fire time to its acceptance (the metrics' histogram).
        self.on_dispatched: Callable[[float], None] | None = None
        self._in_flight_lock = threading.Lock()

    def hold(self, run_id: int) -> None:
        """Mark a claimed run as this process's to dispatch (queued or under way)."""
        with self._in_flight_lock:
            self._in_flight.add(run_id)

    def release(self, run_id: int) -> None:
        with self._in_flight_lock:
            self._in_flight.discard(run_id)

    def in_flight(self) -> set[int]:
        """Runs this process is dispatching: recovery must leave them alone, however old."""
        with self._in_flight_lock:
            return set(self._in_flight)

    def dispatch(self, run: ClaimedRun, *, record_failure: bool = True) -> Dispatched:
        """Try the nodes in order until one accepts; record the outcome in ``job_runs``.

        With ``record_failure`` false, a run no node could have taken is left for the
        caller (``scraperq schedule run`` deletes it: nothing happened).
        """
        self.hold(run.run_id)
        try:
            return self._dispatch(run, record_failure)
        finally:
            self.release(run.run_id)

    def _dispatch(self, run: ClaimedRun, record_failure: bool) -> Dispatched:
        errors: list[str] = []
        maybe_taken: list[Node] = []
        # The run's tasks say they came from a schedule (tasks.source).
        settings = {"SCRAPERQ_TASK_SOURCE": "schedule", **run.settings}
        for node in self.pool.ranked():
            try:
                self.client.schedule(node, spider=run.spider, job_id=run.job_id, args=run.args, settings=settings)
            except NodeError as exc:
                errors.append(str(exc))
                self.pool.note_failed(node, str(exc))
                if exc.uncertain:
                    maybe_taken.append(node)
                logger.warning("Schedule %s: %s; trying the next node", run.schedule_name, exc)
                continue
            accepted_at = self.clock()
            jobs.mark_accepted(self.db, run.run_id, node=node.name, at=accepted_at)
            self.pool.note_dispatched(node)
            if self.on_dispatched is not None:
                self.on_dispatched((accepted_at - run.fire_time).total_seconds())
            for other in maybe_taken:
                self.strays.add(other, run.job_id, accepted_at)
            logger.info(
                "Schedule %s: job %s (%s) accepted by %s for fire time %s",
                run.schedule_name,
                run.job_id,
                run.spider,
                node.name,
                run.fire_time.isoformat(),
            )
            return Dispatched(run, node.name, accepted_at=accepted_at)

        error = "no Scrapyd node accepted the job: " + "; ".join(errors)
        if maybe_taken:
            logger.error("Schedule %s: %s (left for recovery to confirm)", run.schedule_name, error)
            return Dispatched(run, None, error, unresolved=True)
        logger.error("Schedule %s: %s", run.schedule_name, error)
        if record_failure:
            jobs.mark_final(self.db, run.run_id, status="failed", at=self.clock(), error=error)
        return Dispatched(run, None, error)
