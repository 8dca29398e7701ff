"""Every page of a task gets one outcome, and every task ends.

A task covers its own page and every page it led to (README, Task lifecycle). For
each request of a task the engine takes, :class:`TaskSettler` records one outcome:

* *replaced*: the downloader gave a new request instead (a redirect or a retry);
* *failed*: whatever raised in the downloader and its middlewares (a download
  error, a refused redirect, a body over the size limit), an error status the
  spider did not ask for, an exception in a spider middleware, callback or errback;
* *fetched*: its response was parsed.

It learns them from :class:`TaskDownloader` (``DOWNLOADER``), which sees what each
request's download ended with whichever middleware raised, and from the task
middlewares. A request that leaves the engine without an outcome (a component
swallowed its error) fails with words that say so: nothing is left ``running``.

The task's own page failing fails the task at once; its own page parsed waits for
the rest. The task ends (``drained``) when its last page is settled: counted here
when the crawl runs in one process, told by the Redis queue when it is shared
(the entry that brings the task's count of queued and held entries to 0). A crawl
that stops with pages of a task still waiting fails that task, saying so.
"""

from __future__ import annotations

import logging
import weakref
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scrapy import Request, signals
from scrapy.core.downloader import Downloader
from twisted.internet import task

from scraperq.crawlstore import CrawlStore
from scraperq.failures import describe_exception, describe_parse_error, describe_status, with_attempts
from scraperq.meta import TASK_ID, TASK_ROOT
from scraperq.storage.writer import DRAINED, FAILED, PAGE_ERROR, PAGE_FAILED, PAGE_FETCHED, PARSED

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.internet.defer import Deferred
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)


TICK_SECONDS = 0.1  # how often requests that left the engine are looked for

_SETTLERS: weakref.WeakKeyDictionary[Crawler, TaskSettler] = weakref.WeakKeyDictionary()

FETCHED, REPLACED = "fetched", "replaced"


def attempts_of(request: Request) -> int:
    return int(request.meta.get("retry_times", 0)) + 1


def task_of(request: Request) -> int | None:
    task_id = request.meta.get(TASK_ID)
    return int(task_id) if task_id is not None else None


def handles_status(request: Request, status: int, allowed: Iterable[int]) -> bool:
    """True when the spider asked to receive this error status (HttpErrorMiddleware rules)."""
    meta = request.meta
    if meta.get("handle_httpstatus_all"):
        return True
    if "handle_httpstatus_list" in meta:
        return status in meta["handle_httpstatus_list"]
    return status in allowed


@dataclass
class _Page:
    task_id: int
    root: bool
    outcome: str | None = None
    downloaded: bool = False


class TaskSettler:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.store = CrawlStore.for_crawler(crawler)
        settings = crawler.settings
        self.allowed_statuses = settings.getlist("HTTPERROR_ALLOWED_CODES")
        self.max_size = settings.getint("DOWNLOAD_MAXSIZE")
        self.max_redirects = settings.getint("REDIRECT_MAX_TIMES")
        # Requests of tasks in the engine, and what became of them so far.
        self.pages: dict[Request, _Page] = {}
        # In one process: requests of each task scheduled and not settled yet (a delayed retry
        # is scheduled twice: when it is made and when it falls due; it counts once).
        self.open_pages: Counter[int] = Counter()
        self._open: set[Request] = set()
        # Set by the Redis scheduler: the shared queue says when a task has drained.
        self.queue_counts = False
        self._loop: task.LoopingCall | None = None
        self._no_slot_logged = False
        crawler.signals.connect(self._scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(self._dropped, signal=signals.request_dropped)
        crawler.signals.connect(self._opened, signal=signals.spider_opened)
        self.store.closing_hooks.append(self._closed)

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> TaskSettler:
        settler = _SETTLERS.get(crawler)
        if settler is None:
            settler = _SETTLERS[crawler] = cls(crawler)
        return settler

    # -- what the downloader and the middlewares tell ---------------------------------

    def attempt(self, request: Request) -> None:
        task_id = task_of(request)
        if task_id is not None:
            self.pages[request] = _Page(task_id, bool(request.meta.get(TASK_ROOT)))

    def replaced(self, request: Request) -> None:
        page = self.pages.get(request)
        if page is not None and page.outcome is None:
            page.outcome = REPLACED

    def downloaded(self, request: Request, response: Response) -> None:
        page = self.pages.get(request)
        if page is None or page.outcome is not None:
            return
        page.downloaded = True
        if response.status >= 400 and not handles_status(request, response.status, self.allowed_statuses):
            self.failed(request, with_attempts(describe_status(response.status), attempts_of(request)))

    def describe(self, request: Request, exc: BaseException) -> str:
        """Why the download of ``request`` failed, with the limits it had, and its attempts."""
        max_size = int(request.meta.get("download_maxsize", self.max_size) or 0)
        reason = describe_exception(exc, request.url, max_size=max_size, max_redirects=self.max_redirects)
        return with_attempts(reason, attempts_of(request))

    def download_failed(self, request: Request, exc: BaseException) -> None:
        self.failed(request, self.describe(request, exc))

    def spider_failed(self, request: Request, exc: BaseException) -> None:
        """An exception from a callback, errback or spider middleware (no-op once the page has an outcome)."""
        self.failed(request, describe_parse_error(exc))

    def failed(self, request: Request, reason: str) -> None:
        page = self.pages.get(request)
        if page is None:
            task_id = task_of(request)
            if task_id is None:
                return
            page = self.pages[request] = _Page(task_id, bool(request.meta.get(TASK_ROOT)))
        if page.outcome is not None:
            return
        page.outcome = FAILED
        if page.root:
            self.store.task_event(page.task_id, FAILED, attempts_of(request), reason)
            self.store.task_event(page.task_id, PAGE_FAILED, attempts_of(request), reason)
        else:
            self.crawler.stats.inc_value("scraperq/followed/failed")
            logger.info("Followed request %s failed: %s", request.url, reason)
            self.store.task_event(page.task_id, PAGE_FAILED, attempts_of(request), reason, url=request.url)

    def parsed(self, request: Request) -> None:
        page = self.pages.get(request)
        if page is None or page.outcome is not None:
            return
        page.outcome = FETCHED
        if page.root:
            self.store.task_event(page.task_id, PARSED, attempts_of(request))
        self.store.task_event(page.task_id, PAGE_FETCHED, attempts_of(request))

    def item_failed(self, task_id: int, url: str, reason: str) -> None:
        self.store.task_event(task_id, PAGE_ERROR, 0, reason, url=url)

    def drained(self, task_ids: Iterable[int]) -> None:
        """Every page of these tasks is settled (the shared queue's count reached 0)."""
        for task_id in task_ids:
            self.store.task_event(task_id, DRAINED, 0)

    # -- requests leaving the engine ------------------------------------------------------

    def _tick(self) -> None:
        if not self.pages:
            return
        slot = getattr(self.crawler.engine, "_slot", None)
        in_engine = getattr(slot, "inprogress", None)
        if not isinstance(in_engine, set):
            if not self._no_slot_logged:
                logger.warning("This Scrapy version does not expose the engine's requests: tasks end at crawl end")
                self._no_slot_logged = True
            return
        for request in [r for r in self.pages if r not in in_engine]:
            self._left(request, self.pages.pop(request))

    def _left(self, request: Request, page: _Page) -> None:
        if page.outcome is None:
            self.pages[request] = page
            why = "its response was never parsed" if page.downloaded else "it ended without an outcome"
            self.failed(request, f"{why} (an error a component did not report; see the crawl log)")
            self.pages.pop(request, None)
        self._settled(request)

    def _scheduled(self, request: Request, spider: Any = None) -> None:
        task_id = task_of(request)
        if task_id is not None and not self.queue_counts and request not in self._open:
            self._open.add(request)
            self.open_pages[task_id] += 1

    def _dropped(self, request: Request, spider: Any = None) -> None:
        self._settled(request)

    def _settled(self, request: Request) -> None:
        if request not in self._open:
            return
        self._open.discard(request)
        task_id = task_of(request)
        assert task_id is not None
        self.open_pages[task_id] -= 1
        if self.open_pages[task_id] <= 0:
            del self.open_pages[task_id]
            self.store.task_event(task_id, DRAINED, 0)

    def _opened(self, spider: Any) -> None:
        self._loop = task.LoopingCall(self._tick)
        self._loop.start(TICK_SECONDS, now=False)

    def _closed(self, reason: str) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._tick()
        if self.queue_counts:
            return  # the pages left in the shared queue are other workers' to finish
        for task_id, waiting in sorted(self.open_pages.items()):
            pages = f"{waiting} of its pages were" if waiting > 1 else "one of its pages was"
            self.store.task_event(task_id, FAILED, 0, f"the crawl ended ({reason}) before {pages} fetched")
        self.open_pages.clear()
        self._open.clear()


class TaskDownloader(Downloader):
    """Scrapy's downloader, telling the task settler what each request's download ended with.

    The one place that sees a download's end whichever downloader middleware raised:
    an exception from a middleware's ``process_response`` skips every other
    middleware's ``process_exception``.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.settler = TaskSettler.for_crawler(crawler)

    def fetch(self, request: Request, spider: Any = None) -> Deferred[Response | Request]:  # type: ignore[override]
        self.settler.attempt(request)
        d: Deferred[Response | Request] = super().fetch(request)
        d.addCallbacks(self._fetched, self._failed, callbackArgs=(request,), errbackArgs=(request,))
        return d

    def _fetched(self, result: Response | Request, request: Request) -> Response | Request:
        if isinstance(result, Request):
            self.settler.replaced(request)
        else:
            self.settler.downloaded(request, result)
        return result

    def _failed(self, failure: Failure, request: Request) -> Failure:
        self.settler.download_failed(request, failure.value)
        return failure
