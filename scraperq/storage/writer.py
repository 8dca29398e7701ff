"""Buffered writes: results and task status changes, one transaction per batch.

The crawl side appends to a :class:`BatchWriter`; it is flushed when the buffer
reaches ``max_batch`` entries, when ``max_delay`` seconds have passed (the
caller's timer calls :meth:`flush_due`), and at close. A batch that fails to
commit stays buffered and is tried again, so a database hiccup loses nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from scraperq.storage import tasks as task_store
from scraperq.storage.connection import Database
from scraperq.storage.results import ResultRow, insert_results

logger = logging.getLogger(__name__)


@dataclass
class TaskEvent:
    task_id: int
    status: str  # running | completed | failed
    attempts: int
    at: datetime
    error: str | None = None


@dataclass
class FlushStats:
    results_inserted: int = 0
    results_duplicate: int = 0
    tasks_completed: int = 0
    tasks_failed: int = 0


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
                with self.db.transaction() as cur:
                    # Results first, so a task is never completed ahead of its items.
                    stats.results_inserted = insert_results(cur, results)
                    stats.results_duplicate = len(results) - stats.results_inserted
                    for ev in _collapse(events):
                        if ev.status == "running":
                            task_store.mark_running(cur, ev.task_id, ev.attempts, ev.at)
                        elif ev.status == "completed":
                            stats.tasks_completed += task_store.mark_completed(cur, ev.task_id, ev.attempts, ev.at)
                        elif ev.status == "failed":
                            stats.tasks_failed += task_store.mark_failed(
                                cur, ev.task_id, ev.attempts, ev.error or "failed", ev.at
                            )
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


def _collapse(events: list[TaskEvent]) -> list[TaskEvent]:
    """Per task, the latest running event then the first final one.

    Running goes first so started_at keeps the time the fetch began; the final
    updates only touch rows not yet final, so the first final status wins.
    """
    last_running: dict[int, TaskEvent] = {}
    finals: dict[int, TaskEvent] = {}
    for ev in events:
        if ev.status == "running":
            last_running[ev.task_id] = ev
        elif ev.task_id not in finals:
            finals[ev.task_id] = ev
    out = list(last_running.values())
    out.extend(finals.values())
    return out
