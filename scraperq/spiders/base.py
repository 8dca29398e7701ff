"""The base every scraperq spider stands on: URLs from arguments, tasks for each.

``scrapy crawl NAME -a url=URL`` (or ``-a urls=URL1,URL2``) crawls those URLs;
without them the class's ``start_urls`` are crawled. Each start URL becomes a
``tasks`` row (TaskSpiderMiddleware), so every spider gets the task lifecycle,
retries and batched storage without code of its own.

Worker mode: with ``REDIS_URL`` set and neither URL arguments nor class
``start_urls``, ``scrapy crawl NAME`` becomes a queue worker. It takes payloads
from ``NAME:start_urls`` and requests from ``NAME:requests``, shared with every
other worker of the spider on any machine, and never finishes on its own
(stop it with SIGTERM/SIGINT: it finishes what it holds and gives the rest back).
``-a worker=1`` makes a spider with ``start_urls`` a worker too; ``-a worker=0``
refuses worker mode.

Only-new crawls, for every spider: ``-a only_new=1`` skips pages the spider stored
before (the setting ``SCRAPERQ_ONLY_NEW=1`` does it for every crawl; ``only_new=0``
turns it off for one); ``-a refresh=changed`` also stores again a page whose
modification date or content changed (scraperq.onlynew).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import scrapy

from scraperq.config import check_environment
from scraperq.errors import BadInput
from scraperq.onlynew import parse_refresh
from scraperq.urls import validate_url


def split_urls(raw: str) -> list[str]:
    """URLs separated by whitespace, or by commas that start a new http(s) URL.

    A comma inside a URL (``?ids=1,2``) is left alone.
    """
    return [u for u in re.split(r"\s+|,\s*(?=https?://)", raw, flags=re.I) if u]


def parse_int_arg(name: str, raw: object, *, minimum: int = 0) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise BadInput(f"-a {name}={raw!r}: not a whole number") from None
    if value < minimum:
        raise BadInput(f"-a {name}={raw!r}: must be at least {minimum}")
    return value


def parse_bool_arg(name: str, raw: object) -> bool:
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise BadInput(f"-a {name}={raw!r}: use 1 or 0")


class TaskSpider(scrapy.Spider):
    """Subclass and write ``parse``; URLs come from ``-a url=`` or ``start_urls``."""

    # Where tasks for start URLs come from, as recorded in tasks.source.
    task_source = "start"

    def __init__(
        self,
        *args: Any,
        url: str | None = None,
        urls: str | None = None,
        worker: str | None = None,
        only_new: str | None = None,
        refresh: str = "never",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.only_new = parse_bool_arg("only_new", only_new) if only_new is not None else None
        self.refresh = parse_refresh(refresh)
        given = ([url] if url else []) + (split_urls(urls) if urls else [])
        self.arg_urls = [validate_url(u) for u in given]
        if self.arg_urls:
            self.task_source = "cli"
        self.worker_arg = parse_bool_arg("worker", worker) if worker is not None else None
        if self.worker_arg and self.arg_urls:
            raise BadInput("-a worker=1 takes its URLs from the queue: drop -a url/urls, or use scraperq enqueue")

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> TaskSpider:
        check_environment(crawler.settings)  # a malformed override, kept by settings.py
        spider = super().from_crawler(crawler, *args, **kwargs)
        # Who submitted the start URLs, for tasks.source ("schedule" when the scheduler ran it).
        source = crawler.settings.get("SCRAPERQ_TASK_SOURCE")
        if source:
            spider.task_source = str(source)
        if crawler.settings.get("REDIS_URL"):
            from scraperq.queue.connection import check_connection

            # The scheduler that uses Redis is built once the engine runs, where Scrapy turns
            # an error into a traceback: a bad REDIS_URL is reported here, in one line.
            check_connection(crawler.settings)
        elif spider.worker_arg:
            raise BadInput("-a worker=1 needs the shared queue: set REDIS_URL")
        return spider

    @property
    def is_queue_worker(self) -> bool:
        """Whether this crawl serves the shared queue instead of crawling given URLs."""
        if self.arg_urls:
            return False
        if self.worker_arg is not None:
            return self.worker_arg
        return bool(self.settings.get("REDIS_URL")) and not getattr(self, "start_urls", None)

    def start_request(self, url: str, **meta: Any) -> scrapy.Request:
        """The request for one start URL; per-source spiders may override."""
        return scrapy.Request(url, callback=self.parse, meta=dict(meta), dont_filter=True)

    async def start(self) -> AsyncIterator[Any]:
        if self.is_queue_worker:
            from scraperq.queue.scheduler import serve_start_urls

            # Start requests come from NAME:start_urls; this returns only when the crawl closes,
            # so the engine never sees the start as done and never closes on idle.
            await serve_start_urls(self.crawler)
            return
        for url in self.arg_urls or [validate_url(u) for u in getattr(self, "start_urls", [])]:
            yield self.start_request(url)
