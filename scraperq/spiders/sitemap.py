"""The ``sitemap`` spider: every URL an XML sitemap lists, through sitemap indexes.

``scrapy crawl sitemap -a url=https://example.org/sitemap.xml`` stores one
:class:`~scraperq.items.SitemapEntry` (url, lastmod, changefreq, priority and
the sitemap that listed it) per ``<url>``. A sitemap index leads to its
sitemaps, a ``robots.txt`` to the sitemaps it names, and gzipped sitemaps are
unpacked (no larger than ``DOWNLOAD_MAXSIZE``). Everything found belongs to the
task of the URL the crawl started from. Parsing streams through the document
(Scrapy's :class:`~scrapy.utils.sitemap.Sitemap`), without entity expansion.

Arguments (declared in ``scraperq/spiders/arguments.py``):

* ``url``/``urls``: sitemaps, sitemap indexes or robots.txt files.
* ``allow``: a regular expression a listed URL must contain to be kept.
* ``since``: an ISO date or time; keep only URLs whose ``lastmod`` is that or
  later (URLs without ``lastmod`` are kept: nothing says they are old).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import scrapy
from lxml import etree
from scrapy.http import Response
from scrapy.utils.gz import gunzip, gzip_magic_number
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from scraperq.items import SitemapEntry
from scraperq.spiders.arguments import SITEMAP
from scraperq.spiders.base import TaskSpider


class NotASitemap(ValueError):
    """The response is not a sitemap, a sitemap index or a robots.txt naming one."""


class SitemapSpider(TaskSpider):
    name = "sitemap"
    arguments = SITEMAP

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allow: re.Pattern[str] | None = self.args["allow"]
        self.since: datetime | None = self.args["since"]

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        if response.url.endswith("/robots.txt"):
            found = list(sitemap_urls_from_robots(response.body, base_url=response.url))
            if not found:
                raise NotASitemap("robots.txt names no sitemap")
            for url in found:
                yield scrapy.Request(url, callback=self.parse)
            return
        sitemap = _read_sitemap(self._sitemap_body(response))
        if sitemap is None or sitemap.type not in ("sitemapindex", "urlset"):
            raise NotASitemap("not an XML sitemap or sitemap index")
        if sitemap.type == "sitemapindex":
            for entry in sitemap:
                yield scrapy.Request(response.urljoin(entry["loc"]), callback=self.parse)
            return
        for entry in sitemap:
            url = response.urljoin(entry["loc"])
            if self.allow is not None and not self.allow.search(url):
                continue
            if not self._recent_enough(entry.get("lastmod")):
                continue
            yield SitemapEntry(
                url=url,
                lastmod=entry.get("lastmod") or None,
                changefreq=entry.get("changefreq") or None,
                priority=_priority(entry.get("priority")),
                sitemap=response.url,
            )

    def _sitemap_body(self, response: Response) -> bytes:
        if not gzip_magic_number(response):
            return response.body
        max_size = response.meta.get("download_maxsize", self.settings.getint("DOWNLOAD_MAXSIZE"))
        try:
            return gunzip(response.body, max_size=max_size)
        except ValueError:  # Scrapy's size-limit error is a ValueError
            raise NotASitemap(f"gzipped sitemap larger than {max_size} bytes unpacked") from None
        except (OSError, EOFError) as exc:
            raise NotASitemap(f"gzipped sitemap cannot be unpacked ({exc})") from None

    def _recent_enough(self, lastmod: str | None) -> bool:
        if self.since is None or not lastmod:
            return True
        try:
            when = datetime.fromisoformat(lastmod.replace("Z", "+00:00"))
        except ValueError:
            return True  # an unreadable date says nothing about age
        return (when if when.tzinfo else when.replace(tzinfo=UTC)) >= self.since


def _read_sitemap(body: bytes) -> Sitemap | None:
    try:
        return Sitemap(body) if body.strip() else None
    except (etree.XMLSyntaxError, StopIteration):
        return None


def _priority(raw: str | None) -> float | None:
    try:
        return float(raw) if raw else None
    except ValueError:
        return None
