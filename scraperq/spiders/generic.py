"""The generic spider: any page, its metadata and text, optionally following links.

Arguments (``-a name=value``, declared in ``scraperq/spiders/arguments.py``):

* ``url`` / ``urls``: what to crawl (or, with ``REDIS_URL`` set, none: wait on the queue).
* ``follow``: ``none`` (default), ``same-host`` or ``same-domain`` (the registrable
  domain: ``a.example.co.uk`` and ``b.example.co.uk`` are one domain).
* ``depth``: how many links away from a task's own page to go (default 1 when following).
* ``allow``: a regular expression a followed URL must contain (``re.search``).
* ``render``: ``never`` (default), ``auto`` (render a page in Chromium only when its
  plain HTML has scripts but almost no text) or ``always`` (see scraperq.rendering).
* ``text``: how the main text is taken: ``main`` (default), ``precision``, ``recall``,
  ``fast``, or ``none`` for crawls that want only links and metadata (scraperq.maintext).

Scope is anchored per task, at the host the task's own page ended up on after
redirects, and travels in request meta (``follow_host``, ``follow_roots``) so
that it holds whichever worker fetches a followed page. Followed pages are
stored as results of the same task (TaskSpiderMiddleware passes ``task_id`` on).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure
from w3lib.url import canonicalize_url

from scraperq.errors import BadInput
from scraperq.extract import describe_file, extract_page
from scraperq.itemfields import PAGE_FIELDS
from scraperq.maintext import prepare as prepare_main_text
from scraperq.scope import FollowScope, host_of
from scraperq.settling import TaskSettler
from scraperq.spiders.arguments import GENERIC
from scraperq.spiders.base import TaskSpider

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

# Request meta carried by followed requests.
FOLLOW_HOST = "follow_host"  # the host of the task's own page, after redirects
FOLLOW_ROOTS = "follow_roots"  # canonical URLs of the task's own page: never fetched again as a link


class GenericSpider(TaskSpider):
    name = "generic"
    item_fields = PAGE_FIELDS
    arguments = GENERIC

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.render: str = self.args["render"]  # RenderMiddleware reads it for every request
        self.text_mode: str = self.args["text"]
        self.follow: str = self.args["follow"]
        depth = self.args["depth"]
        self.max_depth: int = (0 if self.follow == "none" else 1) if depth is None else depth
        self.allow: re.Pattern[str] | None = self.args["allow"]

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> GenericSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        # Without URLs and without the shared queue there is nothing to do: say so, not "finished".
        if not spider.arg_urls and not getattr(spider, "start_urls", None) and not crawler.settings.get("REDIS_URL"):
            raise BadInput("nothing to crawl: give -a url=URL or -a urls=URL,URL (or set REDIS_URL to use the queue)")
        prepare_main_text(spider.text_mode)  # before any page: the first one would stall the reactor
        return spider

    def start_request(self, url: str, **meta: Any) -> scrapy.Request:
        return super().start_request(url, **meta).replace(errback=self.gave_up)

    def parse(self, response: Response, **_: Any) -> Iterator[Any]:
        if not is_html(response):
            yield describe_file(response)
            return
        assert isinstance(response, TextResponse)
        page = extract_page(response, text_mode=self.text_mode)
        yield page
        yield from self.follow_links(response, page["links"])

    def follow_links(self, response: Response, links: list[str]) -> Iterator[scrapy.Request]:
        if self.follow == "none" or int(response.meta.get("depth", 0)) >= self.max_depth:
            return
        if FOLLOW_HOST in response.meta:  # a followed page
            scope = self.scope_for(response.meta[FOLLOW_HOST])
            roots = set(response.meta.get(FOLLOW_ROOTS) or ())
            if not scope.permits(response.url):
                return  # it redirected out of scope: keep the page, not its links
        else:  # the task's own page: scope starts where it ended up
            scope = self.scope_for(host_of(response.url))
            first_url = (response.meta.get("redirect_urls") or [response.url])[0]
            roots = {canonicalize_url(first_url), canonicalize_url(response.url)}
        meta = {FOLLOW_HOST: scope.host, FOLLOW_ROOTS: sorted(roots)}
        for link in links:
            if scope.permits(link) and canonicalize_url(link) not in roots:
                yield scrapy.Request(link, callback=self.parse, errback=self.gave_up, meta=dict(meta))

    def scope_for(self, host: str) -> FollowScope:
        return FollowScope(self.follow, host, self.allow)

    def gave_up(self, failure: Failure) -> Failure | None:
        """One log line for a request that failed for good (its task already says why).

        Without an errback Scrapy logs every download error with a full traceback.
        HTTP error statuses go back to HttpErrorMiddleware, which reports them as usual.
        """
        if failure.check(HttpError):
            return failure
        request = failure.request  # type: ignore[attr-defined]
        # A download failure has its outcome already; an exception a spider middleware raised
        # on the response (it comes here too) is the page's outcome.
        settler = TaskSettler.for_crawler(self.crawler)
        settler.spider_failed(request, failure.value)
        reason = settler.describe(request, failure.value)
        level = logging.INFO if failure.check(IgnoreRequest) else logging.WARNING
        self.logger.log(level, "Gave up on %s: %s", request.url, reason)
        return None


def is_html(response: Response) -> bool:
    if isinstance(response, HtmlResponse):
        return True
    if not isinstance(response, TextResponse):
        return False
    ctype = response.headers.get(b"Content-Type", b"").decode("latin-1").lower()
    return "html" in ctype or (not ctype and b"<html" in response.body[:2048].lower())
