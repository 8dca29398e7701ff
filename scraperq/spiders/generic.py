"""The generic spider: any page, its metadata and text, optionally following links.

Arguments (``-a name=value``):

* ``url`` / ``urls``: what to crawl (or, with ``REDIS_URL`` set, none: wait on the queue).
* ``follow``: ``none`` (default), ``same-host`` or ``same-domain``.
* ``depth``: how many links deep to follow (default 1 when following).
* ``allow``: a regular expression a followed URL must match.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Response, TextResponse

from scraperq.errors import BadInput
from scraperq.extract import extract_page, non_html_result
from scraperq.spiders.base import TaskSpider, parse_int_arg

FOLLOW_MODES = ("none", "same-host", "same-domain")


def registered_domain(host: str) -> str:
    """The last two labels of a host name: a cheap stand-in for the registered domain."""
    labels = host.lower().rstrip(".").split(".")
    return ".".join(labels[-2:]) if len(labels) >= 2 else host.lower()


class GenericSpider(TaskSpider):
    name = "generic"

    def __init__(
        self,
        *args: Any,
        follow: str = "none",
        depth: str | int | None = None,
        allow: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if follow not in FOLLOW_MODES:
            raise BadInput(f"-a follow={follow!r}: use one of {', '.join(FOLLOW_MODES)}")
        self.follow = follow
        default_depth = 1 if follow != "none" else 0
        self.max_depth = parse_int_arg("depth", depth, minimum=0) if depth is not None else default_depth
        try:
            self.allow = re.compile(allow) if allow else None
        except re.error as exc:
            raise BadInput(f"-a allow={allow!r}: not a regular expression ({exc})") from None

    def parse(self, response: Response, **_: Any) -> Iterator[Any]:
        if not isinstance(response, TextResponse) or not _is_html(response):
            yield non_html_result(response)
            return
        page = extract_page(response)
        yield page
        yield from self._follow_links(response, page.get("links", []))

    def _follow_links(self, response: Response, links: list[str]) -> Iterator[scrapy.Request]:
        depth = int(response.meta.get("depth", 0))
        if self.follow == "none" or depth >= self.max_depth:
            return
        origin = urlsplit(response.url).hostname or ""
        for link in links:
            host = urlsplit(link).hostname or ""
            if urlsplit(link).scheme not in ("http", "https"):
                continue
            if self.follow == "same-host" and host != origin:
                continue
            if self.follow == "same-domain" and registered_domain(host) != registered_domain(origin):
                continue
            if self.allow is not None and not self.allow.search(link):
                continue
            yield response.follow(link, callback=self.parse)


def _is_html(response: TextResponse) -> bool:
    ctype = response.headers.get(b"Content-Type", b"").decode("latin-1").lower()
    return "html" in ctype or (not ctype and b"<html" in response.body[:2048].lower())
