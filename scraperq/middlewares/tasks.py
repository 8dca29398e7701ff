"""Task lifecycle: every spider gets pending -> running -> completed | failed for free.

Request meta used throughout scraperq:

* ``task_id``: the ``tasks`` row a request works for. Requests that a task's
  pages lead to inherit it.
* ``task_root``: true on the request for the task's own URL. Its failure fails the
  task; once it is parsed the task completes when every page it led to is settled
  (scraperq/settling.py keeps count).

:class:`TaskSpiderMiddleware` creates a task for each start request that has
none, passes ``task_id`` on to followed requests, notes each item's origin for
the store pipeline, and tells the task settler when a page was parsed or its
processing raised. :class:`TaskStatusMiddleware` (downloader, outermost) marks a
task ``running`` on each attempt of its own page; what each download ended with
is told by ``TaskDownloader`` (scraperq/settling.py), which sees it whichever
middleware raised.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from scrapy import Request

from scraperq.crawlstore import CrawlStore, ItemContext
from scraperq.meta import TASK_ID, TASK_ROOT
from scraperq.settling import TaskSettler, attempts_of, handles_status
from scraperq.storage.tasks import NewTask

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

__all__ = ["TASK_ID", "TASK_ROOT", "TaskSpiderMiddleware", "TaskStatusMiddleware", "attempts_of", "handles_status"]


class TaskStatusMiddleware:
    def __init__(self, store: CrawlStore) -> None:
        self.store = store

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> TaskStatusMiddleware:
        TaskSettler.for_crawler(crawler)  # listening before the first request is scheduled
        return cls(CrawlStore.for_crawler(crawler))

    def process_request(self, request: Request) -> None:
        if request.meta.get(TASK_ROOT) and request.meta.get(TASK_ID) is not None:
            self.store.task_event(int(request.meta[TASK_ID]), "running", attempts_of(request))


class TaskSpiderMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.store = CrawlStore.for_crawler(crawler)
        self.settler = TaskSettler.for_crawler(crawler)
        self.allowed_statuses = crawler.settings.getlist("HTTPERROR_ALLOWED_CODES")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> TaskSpiderMiddleware:
        return cls(crawler)

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for obj in start:
            if isinstance(obj, Request) and obj.meta.get(TASK_ID) is None:
                spider = self.crawler.spider
                source = getattr(spider, "task_source", "start")
                [task_id] = await self.store.create_tasks(
                    [NewTask(spider=spider.name if spider else "", url=obj.url, priority=obj.priority, source=source)]
                )
                obj.meta[TASK_ID] = task_id
                obj.meta[TASK_ROOT] = True
            yield obj

    # Both forms, so a spider with a plain generator callback keeps Scrapy's whole
    # middleware chain synchronous (cheaper per response than the async path).
    def process_spider_output(self, response: Response, result: Iterable[Any]) -> Iterator[Any]:
        output = _ResponseOutput(self.store, self.settler, response)
        for obj in result:
            yield output.see(obj)
        output.done()

    async def process_spider_output_async(self, response: Response, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        output = _ResponseOutput(self.store, self.settler, response)
        async for obj in result:
            yield output.see(obj)
        output.done()

    def process_spider_exception(self, response: Response, exception: Exception) -> None:
        request = response.request
        if request is None or request.meta.get(TASK_ID) is None:
            return None
        if response.status >= 400 and not handles_status(request, response.status, self.allowed_statuses):
            return None  # already failed with the HTTP status (HttpError)
        self.settler.spider_failed(request, exception)
        return None


class _ResponseOutput:
    """What one response's callback produced: followed requests inherit its task, items
    are noted with their origin for the store pipeline, and the page counts as parsed."""

    def __init__(self, store: CrawlStore, settler: TaskSettler, response: Response) -> None:
        request = response.request
        assert request is not None
        self.store = store
        self.settler = settler
        self.request = request
        self.url = response.url
        self.task_id = request.meta.get(TASK_ID)
        self.fingerprint = store.crawler.request_fingerprinter.fingerprint(request).hex()
        self.index = 0

    def see(self, obj: Any) -> Any:
        if isinstance(obj, Request):
            if obj.meta.get(TASK_ID) is None and self.task_id is not None:
                obj.meta[TASK_ID] = self.task_id
                obj.meta[TASK_ROOT] = False
        else:
            # The item's position in this response keeps it distinct from its siblings
            # and identical across a re-delivery of the same request.
            self.store.item_context[id(obj)] = ItemContext(self.task_id, self.url, f"{self.fingerprint}:{self.index}")
            self.index += 1
        return obj

    def done(self) -> None:
        self.settler.parsed(self.request)
