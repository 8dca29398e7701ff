"""Record refused items against their tasks (``tasks.invalid_items``, ``tasks.invalid_reason``).

ValidatePipeline calls :meth:`InvalidItemLog.record` for each item it refuses.
Counts are summed per task in memory and written off the reactor thread, in one
transaction, every ``SCRAPERQ_BATCH_SECONDS`` while any are waiting, and at
close: from the pipeline's ``close_spider``, which Scrapy runs before the
crawl's database is closed on ``spider_closed``. A write that fails keeps its
counts for the next try.

Settings: ``SCRAPERQ_BATCH_SECONDS``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from scrapy.utils.defer import deferred_to_future
from twisted.internet import task, threads

from scraperq.crawlstore import CrawlStore
from scraperq.storage.invalid import add_invalid_items

logger = logging.getLogger(__name__)


class InvalidItemLog:
    def __init__(self, crawler: Any, *, interval: float = 1.0) -> None:
        self.crawler = crawler
        self.store: CrawlStore | None = None
        self.interval = max(0.05, interval)
        self._pending: dict[int, tuple[int, str]] = {}
        self._lock = threading.Lock()
        self._timer: task.LoopingCall | None = None
        self._writing: Any = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> InvalidItemLog:
        return cls(crawler, interval=crawler.settings.getfloat("SCRAPERQ_BATCH_SECONDS", 1.0))

    def record(self, item: Any, reason: str) -> None:
        """Count ``item`` as refused for ``reason`` against the task it came from, if any."""
        # Items get their task from TaskSpiderMiddleware, which opens the store; without it there is none.
        self.store = self.store or CrawlStore.existing(self.crawler)
        ctx = self.store.item_context.get(id(item)) if self.store is not None else None
        if ctx is None or ctx.task_id is None:
            return
        with self._lock:
            count, _ = self._pending.get(ctx.task_id, (0, reason))
            self._pending[ctx.task_id] = (count + 1, reason)
        if self._timer is None:
            # Started on the first refusal: a crawl with no invalid items never wakes up for this.
            self._timer = task.LoopingCall(self._write_soon)
            self._timer.start(self.interval, now=False)

    def _write_soon(self) -> Any:
        if self._writing is None and self._pending:
            self._writing = threads.deferToThread(self._write)
            self._writing.addErrback(self._failed).addBoth(self._done)
        return None

    def _write(self) -> None:
        assert self.store is not None
        with self._lock:
            batch, self._pending = self._pending, {}
        try:
            with self.store.db.transaction() as cur:
                add_invalid_items(cur, [(task_id, n, reason) for task_id, (n, reason) in sorted(batch.items())])
        except BaseException:
            with self._lock:  # keep the counts for the next try
                for task_id, (n, reason) in batch.items():
                    count, latest = self._pending.get(task_id, (0, reason))
                    self._pending[task_id] = (count + n, latest)
            raise

    def _failed(self, failure: Any) -> None:
        logger.error("Could not record invalid items on their tasks, will retry: %s", failure.getErrorMessage())

    def _done(self, _: Any) -> None:
        self._writing = None

    async def close(self) -> None:
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        if self._writing is not None:
            await deferred_to_future(self._writing)
        if self._pending:
            try:
                await deferred_to_future(threads.deferToThread(self._write))
            except Exception as exc:  # the database is gone; say what is lost
                logger.error("Invalid-item counts for %d tasks were not recorded: %s", len(self._pending), exc)
