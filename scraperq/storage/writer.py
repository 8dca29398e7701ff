"""Buffered writes: results and task status changes, one transaction per batch.

The crawl side appends to a :class:`BatchWriter`; it is flushed when the buffer
reaches ``max_batch`` entries, when ``max_delay`` seconds have passed (the
caller's timer calls :meth:`flush_due`), and at close. A batch that fails to
commit stays buffered and is tried again, so a database hiccup loses nothing.

A batch the database refuses because of its contents (a value PostgreSQL cannot
store, such as NaN or a NUL character, or a result whose task was purged) is
written again at once, row by row inside one transaction, and only the rows
refused are dropped and logged; otherwise one bad row would hold back every
later result for ever.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from scraperq.errors import first_line
from scraperq.storage import tasks as task_store
from scraperq.storage.connection import Cursor, Database
from scraperq.storage.results import ResultRow, insert_results

logger = logging.getLogger(__name__)


# Task events: the task's own page started (running), was parsed (parsed: the task waits for
# the pages it led to), or failed or completed the task; one page of the task was settled
# (page-fetched, page-failed with url and error); an item of a page could not be stored
# (page-error: kept with the errors, not counted); the task's last page was settled (drained).
RUNNING, PARSED, COMPLETED, FAILED, DRAINED = "running", "parsed", "completed", "failed", "drained"
PAGE_FETCHED, PAGE_FAILED, PAGE_ERROR = "page-fetched", "page-failed", "page-error"
_FINAL_EVENTS = (COMPLETED, FAILED, DRAINED)


@dataclass
class TaskEvent:
    task_id: int
    status: str  # one of the names above
    attempts: int
    at: datetime
    error: str | None = None
    url: str | None = None  # the page of a page-failed event that is not the task's own


@dataclass
class FlushStats:
    results_inserted: int = 0
    results_duplicate: int = 0
    tasks_completed: int = 0
    tasks_failed: int = 0
    rejected: int = 0  # results and task updates the database refused; logged and dropped


class BatchWriter:
    def __init__(self, db: Database, *, max_batch: int = 100, max_delay: float = 1.0) -> None:
        self.db = db
        self.max_batch = max(1, max_batch)
        self.max_delay = max(0.0, max_delay)
        self._results: list[ResultRow] = []
        self._events: list[TaskEvent] = []
        self._lock = threading.Lock()  # guards the buffers
        self._flush_lock = threading.Lock()  # one flush at a time, in order
        self._oldest: float | None = None
        self.totals = FlushStats()

    def add_result(self, row: ResultRow) -> bool:
        """Buffer a result; True when the batch is full and should be flushed."""
        with self._lock:
            self._results.append(row)
            return self._mark_pending()

    def add_task_event(self, event: TaskEvent) -> bool:
        with self._lock:
            self._events.append(event)
            return self._mark_pending()

    def _mark_pending(self) -> bool:
        if self._oldest is None:
            self._oldest = time.monotonic()
        return len(self._results) + len(self._events) >= self.max_batch

    def pending(self) -> int:
        with self._lock:
            return len(self._results) + len(self._events)

    def is_due(self) -> bool:
        with self._lock:
            return self._oldest is not None and time.monotonic() - self._oldest >= self.max_delay

    def flush(self) -> FlushStats:
        """Write everything buffered in one transaction (blocking; call off the reactor)."""
        with self._flush_lock:
            with self._lock:
                results, events = self._results, self._events
                self._results, self._events, self._oldest = [], [], None
            stats = FlushStats()
            if not results and not events:
                return stats
            try:
                try:
                    self._write(results, events, stats, row_by_row=False)
                except self.db.row_errors as exc:
                    logger.warning("The database refused a batch (%s); writing it row by row", first_line(exc))
                    stats = FlushStats()
                    self._write(results, events, stats, row_by_row=True)
            except BaseException:
                with self._lock:  # put the batch back in front of anything newer
                    self._results[:0] = results
                    self._events[:0] = events
                    if self._oldest is None:
                        self._oldest = time.monotonic()
                raise
            for name in vars(stats):
                setattr(self.totals, name, getattr(self.totals, name) + getattr(stats, name))
            return stats

    def _write(self, results: list[ResultRow], events: list[TaskEvent], stats: FlushStats, *, row_by_row: bool) -> None:
        """One transaction; ``row_by_row`` gives each entry a savepoint and skips those the database refuses."""
        with self.db.transaction() as cur:
            # Results first, so a task is never completed ahead of its items.
            if row_by_row:
                for row in results:
                    with self._unless_refused(cur, stats, row):
                        stats.results_inserted += insert_results(cur, [row])
                refused_results = stats.rejected
                for ev in _collapse(events):
                    with self._unless_refused(cur, stats, ev):
                        _apply_event(cur, ev, stats)
            else:
                refused_results = 0
                stats.results_inserted = insert_results(cur, results)
                for ev in _collapse(events):
                    _apply_event(cur, ev, stats)
        stats.results_duplicate = len(results) - stats.results_inserted - refused_results

    @contextmanager
    def _unless_refused(
        self, cur: Cursor, stats: FlushStats, entry: ResultRow | TaskEvent | _PageOutcomes
    ) -> Iterator[None]:
        cur.execute("SAVEPOINT batch_entry")
        try:
            yield
        except self.db.row_errors as exc:
            cur.execute("ROLLBACK TO SAVEPOINT batch_entry")
            stats.rejected += 1
            logger.error("Dropped %s: the database refused it: %s", _describe(entry), first_line(exc))
        cur.execute("RELEASE SAVEPOINT batch_entry")


@dataclass
class _PageOutcomes:
    """The page events of one task in a batch, summed: one update instead of one per page."""

    task_id: int
    at: datetime
    fetched: int = 0
    failed: int = 0
    errors: list[tuple[str, str]] | None = None


def _apply_event(cur: Cursor, ev: TaskEvent | _PageOutcomes, stats: FlushStats) -> None:
    if isinstance(ev, _PageOutcomes):
        task_store.add_page_outcomes(cur, ev.task_id, ev.fetched, ev.failed, ev.errors or [], ev.at)
    elif ev.status == RUNNING:
        task_store.mark_running(cur, ev.task_id, ev.attempts, ev.at)
    elif ev.status == PARSED:
        task_store.mark_parsed(cur, ev.task_id, ev.attempts, ev.at)
    elif ev.status == COMPLETED:
        stats.tasks_completed += task_store.mark_completed(cur, ev.task_id, ev.attempts, ev.at)
    elif ev.status == FAILED:
        stats.tasks_failed += task_store.mark_failed(cur, ev.task_id, ev.attempts, ev.error or "failed", ev.at)
    elif ev.status == DRAINED:
        ended = task_store.mark_drained(cur, ev.task_id, ev.at, ev.error or "lost: its pages ended without an outcome")
        stats.tasks_completed += ended == COMPLETED
        stats.tasks_failed += ended == FAILED


def _describe(entry: ResultRow | TaskEvent | _PageOutcomes) -> str:
    if isinstance(entry, ResultRow):
        return f"the result of task {entry.task_id} from {entry.url}"
    if isinstance(entry, _PageOutcomes):
        return f"the page counts of task {entry.task_id}"
    return f"the {entry.status} update of task {entry.task_id}"


def _collapse(events: list[TaskEvent]) -> list[TaskEvent | _PageOutcomes]:
    """Per task: the latest running event, the parsed one, its page counts summed, then the first final one.

    Running goes first so started_at keeps the time the fetch began; page counts go before
    the final update (they only touch rows not yet final); the final updates only touch
    rows not yet final, so the first final status wins.
    """
    last_running: dict[int, TaskEvent] = {}
    parsed: dict[int, TaskEvent] = {}
    pages: dict[int, _PageOutcomes] = {}
    finals: dict[int, TaskEvent] = {}
    for ev in events:
        if ev.status == RUNNING:
            last_running[ev.task_id] = ev
        elif ev.status == PARSED:
            parsed.setdefault(ev.task_id, ev)
        elif ev.status in (PAGE_FETCHED, PAGE_FAILED, PAGE_ERROR):
            counts = pages.setdefault(ev.task_id, _PageOutcomes(ev.task_id, ev.at))
            counts.at = ev.at
            if ev.status == PAGE_FETCHED:
                counts.fetched += 1
            elif ev.status == PAGE_FAILED:
                counts.failed += 1
            if ev.status != PAGE_FETCHED and ev.url is not None:  # a followed page's error is kept
                counts.errors = (counts.errors or []) + [(ev.url, ev.error or "failed")]
        elif ev.task_id not in finals:
            finals[ev.task_id] = ev
    out: list[TaskEvent | _PageOutcomes] = list(last_running.values())
    out.extend(parsed.values())
    out.extend(pages.values())
    out.extend(finals.values())
    return out
