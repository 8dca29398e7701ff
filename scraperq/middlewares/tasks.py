"""Task lifecycle: every spider gets pending -> running -> completed | failed for free.

Request meta used throughout scraperq:

* ``task_id``: the ``tasks`` row a request works for. Requests that a task's
  pages lead to inherit it.
* ``task_root``: true on the request for the task's own URL; its outcome decides
  the task's status. Followed pages only count towards ``item_count``.

:class:`TaskSpiderMiddleware` creates a task for each start request that has
none, passes ``task_id`` on to followed requests, notes each item's origin for
the store pipeline and marks a root task ``completed`` once its page is parsed.
:class:`TaskStatusMiddleware` (downloader, outermost) marks tasks ``running``
on each attempt and ``failed`` with a readable reason on a final error response
or exception, after retries and redirects had their turn.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.exceptions import IgnoreRequest

from scraperq.crawlstore import CrawlStore, ItemContext
from scraperq.errors import first_line
from scraperq.failures import describe_exception, describe_status, with_attempts
from scraperq.storage.tasks import NewTask

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

TASK_ID = "task_id"
TASK_ROOT = "task_root"


def attempts_of(request: Request) -> int:
    return int(request.meta.get("retry_times", 0)) + 1


def handles_status(request: Request, status: int, allowed: Iterable[int]) -> bool:
    """True when the spider asked to receive this error status (HttpErrorMiddleware rules)."""
    meta = request.meta
    if meta.get("handle_httpstatus_all"):
        return True
    if "handle_httpstatus_list" in meta:
        return status in meta["handle_httpstatus_list"]
    return status in allowed


class TaskStatusMiddleware:
    def __init__(self, store: CrawlStore, allowed_statuses: list[int]) -> None:
        self.store = store
        self.allowed_statuses = allowed_statuses

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> TaskStatusMiddleware:
        return cls(CrawlStore.for_crawler(crawler), crawler.settings.getlist("HTTPERROR_ALLOWED_CODES"))

    def process_request(self, request: Request) -> None:
        if request.meta.get(TASK_ROOT) and request.meta.get(TASK_ID) is not None:
            self.store.task_event(int(request.meta[TASK_ID]), "running", attempts_of(request))

    def process_response(self, request: Request, response: Response) -> Response:
        if not request.meta.get(TASK_ROOT) or request.meta.get(TASK_ID) is None:
            return response
        if response.status >= 400 and not handles_status(request, response.status, self.allowed_statuses):
            attempts = attempts_of(request)
            self.store.task_event(
                int(request.meta[TASK_ID]),
                "failed",
                attempts,
                with_attempts(describe_status(response.status), attempts),
            )
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        if isinstance(exception, IgnoreRequest) and not str(exception):
            reason = "ignored (robots.txt or a middleware refused it)"
        else:
            reason = describe_exception(exception, request.url)
        if request.meta.get(TASK_ROOT) and request.meta.get(TASK_ID) is not None:
            attempts = attempts_of(request)
            self.store.task_event(int(request.meta[TASK_ID]), "failed", attempts, with_attempts(reason, attempts))
        else:
            self.store.crawler.stats.inc_value("scraperq/followed/failed")
            logger.info("Followed request %s failed: %s", request.url, reason)


class TaskSpiderMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.store = CrawlStore.for_crawler(crawler)

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
        output = _ResponseOutput(self.store, response)
        for obj in result:
            yield output.see(obj)
        output.done()

    async def process_spider_output_async(self, response: Response, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        output = _ResponseOutput(self.store, response)
        async for obj in result:
            yield output.see(obj)
        output.done()

    def process_spider_exception(self, response: Response, exception: Exception) -> None:
        request = response.request
        if request is None or not request.meta.get(TASK_ROOT) or request.meta.get(TASK_ID) is None:
            return None
        if response.status >= 400:
            return None  # already failed by TaskStatusMiddleware with the HTTP status
        text = first_line(exception)
        reason = f"parse error: {type(exception).__name__}" + ("" if text == type(exception).__name__ else f": {text}")
        self.store.task_event(int(request.meta[TASK_ID]), "failed", attempts_of(request), reason)
        return None


class _ResponseOutput:
    """What one response's callback produced: followed requests inherit its task, items
    are noted with their origin for the store pipeline, and a task's own page completes it."""

    def __init__(self, store: CrawlStore, response: Response) -> None:
        request = response.request
        assert request is not None
        self.store = store
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
        if self.request.meta.get(TASK_ROOT) and self.task_id is not None:
            self.store.task_event(int(self.task_id), "completed", attempts_of(self.request))
