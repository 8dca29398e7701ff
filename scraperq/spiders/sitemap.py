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
* ``follow``, ``text``: with ``follow=1`` each kept URL's page is fetched and stored
  as the generic spider would, merged with its entry (``lastmod`` is the page's
  ``modified`` when the page declares none; :mod:`scraperq.spiders.listing`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import scrapy
from lxml import etree
from scrapy.http import Response
from scrapy.utils.gz import gunzip, gzip_magic_number
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from scraperq.items import SitemapEntry
from scraperq.spiders.arguments import SITEMAP
from scraperq.spiders.listing import ListingSpider


class NotASitemap(ValueError):
    """The response is not a sitemap, a sitemap index or a robots.txt naming one."""


class SitemapSpider(ListingSpider):
    name = "sitemap"
    arguments = SITEMAP
    item_class = SitemapEntry

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
            if not self.keeps(url, entry.get("lastmod")):
                continue
            output = self.entry_output(
                {
                    "url": url,
                    "lastmod": entry.get("lastmod") or None,
                    "changefreq": entry.get("changefreq") or None,
                    "priority": _priority(entry.get("priority")),
                    "sitemap": response.url,
                }
            )
            yield SitemapEntry(**output) if isinstance(output, dict) else output

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
