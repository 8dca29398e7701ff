"""The database as one crawl sees it: shared by the task middlewares and the pipelines.

One :class:`CrawlStore` per crawler (:func:`CrawlStore.for_crawler`). It opens the
database at start-up (a bad ``DATABASE_URL`` stops the crawl before any request),
buffers results and task status changes in a :class:`BatchWriter`, flushes them
off the reactor thread on a size or time bound, and flushes the rest at close.

Settings: ``DATABASE_URL``, ``SCRAPERQ_BATCH_SIZE``, ``SCRAPERQ_BATCH_SECONDS``.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.utils.defer import deferred_to_future
from twisted.internet import task, threads

from scraperq.errors import first_line
from scraperq.storage import database_url, open_database
from scraperq.storage.connection import JsonText, utcnow
from scraperq.storage.results import PageClaim, ResultRow
from scraperq.storage.tasks import NewTask, insert_tasks
from scraperq.storage.writer import PAGE_ERROR, BatchWriter, TaskEvent

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

_STORES: weakref.WeakKeyDictionary[Crawler, CrawlStore] = weakref.WeakKeyDictionary()


@dataclass
class ItemContext:
    """Where an item came from, noted by the spider middleware for the store pipeline."""

    task_id: int | None
    url: str
    fingerprint: str


class CrawlStore:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.db = open_database(database_url(settings))
        self.writer = BatchWriter(
            self.db,
            max_batch=settings.getint("SCRAPERQ_BATCH_SIZE", 100),
            max_delay=settings.getfloat("SCRAPERQ_BATCH_SECONDS", 1.0),
        )
        self.item_context: dict[int, ItemContext] = {}
        self._timer: task.LoopingCall | None = None
        self._flushing: Any = None
        # Flushes started so far, and callbacks waiting for the flush number they need.
        self._flush_starts = 0
        self._commit_waiters: list[tuple[int, Callable[[bool], None]]] = []
        crawler.signals.connect(self._spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)
        # Called with the close reason before the last flush: the task settler's last events.
        self.closing_hooks: list[Callable[[str], None]] = []
        crawler.signals.connect(self._forget_item, signal=signals.item_dropped)
        crawler.signals.connect(self._item_failed, signal=signals.item_error)

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> CrawlStore:
        store = _STORES.get(crawler)
        if store is None:
            store = _STORES[crawler] = cls(crawler)
        return store

    @classmethod
    def existing(cls, crawler: Crawler) -> CrawlStore | None:
        """The crawl's store if a component has opened it, without opening the database."""
        return _STORES.get(crawler)

    @property
    def job_id(self) -> str | None:
        """Scrapyd's job id when running under Scrapyd (it passes ``_job``)."""
        spider = self.crawler.spider
        return getattr(spider, "_job", None) or os.environ.get("SCRAPY_JOB") or None

    # -- tasks -------------------------------------------------------------------

    async def create_tasks(self, new: list[NewTask]) -> list[int]:
        """Insert task rows now (not batched: their ids are needed at once)."""
        for t in new:
            t.job_id = t.job_id or self.job_id

        def insert() -> list[int]:
            with self.db.transaction() as cur:
                return insert_tasks(cur, new)

        return await deferred_to_future(threads.deferToThread(insert))

    def task_event(
        self, task_id: int, status: str, attempts: int, error: str | None = None, *, url: str | None = None
    ) -> None:
        full = self.writer.add_task_event(TaskEvent(task_id, status, attempts, utcnow(), error, url))
        self.crawler.stats.inc_value(f"scraperq/tasks/{status}")
        if full:
            self.flush_soon()

    # -- results -----------------------------------------------------------------

    def add_result(self, ctx: ItemContext, data: dict[str, Any] | JsonText, *, claim: PageClaim | None = None) -> None:
        assert ctx.task_id is not None
        spider = self.crawler.spider
        row = ResultRow(
            task_id=ctx.task_id,
            spider=spider.name if spider else "",
            url=ctx.url,
            data=data,
            scraped_at=utcnow(),
            fingerprint=ctx.fingerprint,
            job_id=self.job_id,
            claim=claim,
        )
        if self.writer.add_result(row):
            self.flush_soon()

    def _forget_item(self, item: Any, **_: Any) -> None:
        self.item_context.pop(id(item), None)

    def _item_failed(self, item: Any, failure: Any = None, **_: Any) -> None:
        """A pipeline raised: the page keeps the error (its other items may be stored)."""
        ctx = self.item_context.pop(id(item), None)
        if ctx is not None and ctx.task_id is not None and failure is not None:
            reason = f"item not stored: {type(failure.value).__name__}: {first_line(failure.value)}"
            self.task_event(int(ctx.task_id), PAGE_ERROR, 0, reason, url=ctx.url)

    # -- flushing ----------------------------------------------------------------

    def after_commit(self, callback: Callable[[bool], None]) -> None:
        """Call ``callback(True)`` once everything buffered so far is committed.

        The Redis queue acknowledges an entry only then, so a worker that dies
        before the commit leaves the entry to be delivered again. Callbacks still
        waiting when the crawl closes without managing to write get ``False``.
        """
        if self.writer.pending():
            needed = self._flush_starts + 1  # the next flush takes what is buffered now
        elif self._flushing is not None:
            needed = self._flush_starts  # the running flush has it
        else:
            callback(True)
            return
        self._commit_waiters.append((needed, callback))

    def _settle_waiters(self, flush_number: int, committed: bool) -> None:
        waiting, self._commit_waiters = self._commit_waiters, []
        for needed, callback in waiting:
            if needed > flush_number:
                self._commit_waiters.append((needed, callback))
            elif committed:
                callback(True)
            else:  # the batch went back to the buffer: the next flush carries it
                self._commit_waiters.append((flush_number + 1, callback))

    def flush_soon(self) -> Any:
        """Start a flush in a thread unless one is running; returns its Deferred."""
        if self._flushing is not None:
            return self._flushing
        self._flush_starts += 1
        flush_number = self._flush_starts
        d = threads.deferToThread(self.writer.flush)

        def done(result: Any) -> Any:
            self._flushing = None
            if hasattr(result, "results_inserted"):
                stats = self.crawler.stats
                stats.inc_value("scraperq/results/inserted", result.results_inserted)
                stats.inc_value("scraperq/results/duplicate", result.results_duplicate)
                self._settle_waiters(flush_number, committed=True)
            else:  # a Failure: keep the batch (the writer did) and say so once per try
                logger.error("Could not write a batch to the database, will retry: %s", result.getErrorMessage())
                self._settle_waiters(flush_number, committed=False)
            return None

        d.addBoth(done)
        self._flushing = d
        return d

    def _tick(self) -> None:
        if self.writer.is_due():
            self.flush_soon()

    def _spider_opened(self, spider: Any) -> None:
        self._timer = task.LoopingCall(self._tick)
        self._timer.start(min(0.25, max(0.05, self.writer.max_delay / 2)), now=False)

    async def _spider_closed(self, spider: Any, reason: str) -> None:
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        for hook in self.closing_hooks:
            try:
                hook(reason)
            except Exception:
                logger.exception("Could not settle the crawl's tasks at close")
        for _attempt in range(5):
            if self._flushing is not None:
                await deferred_to_future(self._flushing)
            if self.writer.pending() == 0:
                break
            await deferred_to_future(self.flush_soon())
        if self.writer.pending():
            logger.error("%d results or task updates could not be written", self.writer.pending())
        waiting, self._commit_waiters = self._commit_waiters, []
        for _needed, callback in waiting:
            callback(False)
        totals = self.writer.totals
        logger.info(
            "Stored %d results (%d duplicates skipped); %d tasks completed, %d failed",
            totals.results_inserted,
            totals.results_duplicate,
            totals.tasks_completed,
            totals.tasks_failed,
        )
        await deferred_to_future(threads.deferToThread(self.db.close))
