"""The base every scraperq spider stands on: URLs from arguments, tasks for each.

``scrapy crawl NAME -a url=URL`` (or ``-a urls=URL1,URL2``) crawls those URLs;
without them the class's ``start_urls`` are crawled. Each start URL becomes a
``tasks`` row (TaskSpiderMiddleware), so every spider gets the task lifecycle,
retries and batched storage without code of its own.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import scrapy

from scraperq.errors import BadInput
from scraperq.urls import validate_url


def split_urls(raw: str) -> list[str]:
    return [u for u in re.split(r"[,\s]+", raw) if u]


def parse_int_arg(name: str, raw: object, *, minimum: int = 0) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise BadInput(f"-a {name}={raw!r}: not a whole number") from None
    if value < minimum:
        raise BadInput(f"-a {name}={raw!r}: must be at least {minimum}")
    return value


class TaskSpider(scrapy.Spider):
    """Subclass and write ``parse``; URLs come from ``-a url=`` or ``start_urls``."""

    # Where tasks for start URLs come from, as recorded in tasks.source.
    task_source = "start"

    def __init__(self, *args: Any, url: str | None = None, urls: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        given = ([url] if url else []) + (split_urls(urls) if urls else [])
        self.arg_urls = [validate_url(u) for u in given]
        if self.arg_urls:
            self.task_source = "cli"

    def start_request(self, url: str, **meta: Any) -> scrapy.Request:
        """The request for one start URL; per-source spiders may override."""
        return scrapy.Request(url, callback=self.parse, meta=dict(meta), dont_filter=True)

    async def start(self) -> AsyncIterator[Any]:
        for url in self.arg_urls or [validate_url(u) for u in getattr(self, "start_urls", [])]:
            yield self.start_request(url)
