"""Scrapy's in-process scheduler, taught to hold delayed retries without blocking.

A request whose ``meta["not_before"]`` lies in the future waits in a heap here,
not in the downloader, so it takes no concurrency slot; when it falls due it is
handed back to the engine. Used when ``REDIS_URL`` is unset (one process).
"""

from __future__ import annotations

import heapq
import itertools
import time
from typing import TYPE_CHECKING

from scrapy.core.scheduler import Scheduler

from scraperq.meta import NOT_BEFORE

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from twisted.internet.base import DelayedCall


class DelayingScheduler(Scheduler):
    def open(self, spider: Spider):  # type: ignore[no-untyped-def]
        self._delayed: list[tuple[float, int, Request]] = []
        self._order = itertools.count()
        self._wakeup: DelayedCall | None = None
        return super().open(spider)

    def close(self, reason: str):  # type: ignore[no-untyped-def]
        if self._wakeup is not None and self._wakeup.active():
            self._wakeup.cancel()
        return super().close(reason)

    def enqueue_request(self, request: Request) -> bool:
        due = float(request.meta.get(NOT_BEFORE) or 0)
        if due > time.time():
            heapq.heappush(self._delayed, (due, next(self._order), request))
            assert self.stats is not None
            self.stats.inc_value("scheduler/delayed")
            self._arm_wakeup()
            return True
        return super().enqueue_request(request)

    def has_pending_requests(self) -> bool:
        return bool(self._delayed) or super().has_pending_requests()

    def __len__(self) -> int:
        return super().__len__() + len(getattr(self, "_delayed", ()))

    def _arm_wakeup(self) -> None:
        from twisted.internet import reactor

        if not self._delayed:
            return
        delay = max(0.0, self._delayed[0][0] - time.time())
        if self._wakeup is not None and self._wakeup.active():
            if self._wakeup.getTime() <= reactor.seconds() + delay:  # type: ignore[attr-defined]
                return
            self._wakeup.cancel()
        self._wakeup = reactor.callLater(delay, self._release_due)  # type: ignore[attr-defined]

    def _release_due(self) -> None:
        self._wakeup = None
        now = time.time()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, request = heapq.heappop(self._delayed)
            # engine.crawl() re-enters enqueue_request (now due) and wakes the engine.
            assert self.crawler is not None and self.crawler.engine is not None
            self.crawler.engine.crawl(request)
        self._arm_wakeup()
