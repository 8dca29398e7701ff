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

Arguments are declared once, in ``scraperq/spiders/arguments.py`` (the class's
``arguments``): :meth:`TaskSpider.__init__` checks every ``-a`` against them,
refuses one the spider does not have (naming those it has), and keeps the
typed values in ``self.args``. ``default_args`` (a subclass's or a source
file's) are used where the command line gives none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import scrapy

from scraperq.arguments import SCRAPYD_JOB_ARG, Arguments
from scraperq.errors import BadInput
from scraperq.spiders.arguments import TASK
from scraperq.urls import validate_url


class TaskSpider(scrapy.Spider):
    """Subclass and write ``parse``; URLs come from ``-a url=`` or ``start_urls``."""

    # Where tasks for start URLs come from, as recorded in tasks.source.
    task_source = "start"
    # The spider's arguments (scraperq/spiders/arguments.py), and values for those the command line leaves out.
    arguments: ClassVar[Arguments] = TASK
    default_args: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        name = kwargs.get("name") or getattr(self, "name", None) or type(self).__name__
        given = {k: v for k, v in kwargs.items() if k != "name"}
        self.args: dict[str, Any] = self.arguments.parse(given, spider=name, defaults=self.default_args)
        passed = {k: v for k, v in kwargs.items() if k in ("name", SCRAPYD_JOB_ARG)}
        super().__init__(*args, **passed)
        self.arg_urls: list[str] = ([self.args["url"]] if self.args["url"] else []) + (self.args["urls"] or [])
        if self.arg_urls:
            self.task_source = "cli"
        self.worker_arg: bool | None = self.args["worker"]
        # Only-new crawls (scraperq.onlynew): None leaves it to the SCRAPERQ_ONLY_NEW setting.
        self.only_new: bool | None = self.args["only_new"]
        self.refresh: str = self.args["refresh"]

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> TaskSpider:
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
