"""The ``feed`` spider: entries of RSS (0.9x, 1.0, 2.0) and Atom feeds.

``scrapy crawl feed -a url=https://example.org/feed.xml`` stores one
:class:`~scraperq.items.FeedEntry` per entry: link, title, id, dates (as ISO
8601 when they can be read), author, summary and categories. Given an HTML
page instead, it follows the page's advertised feeds
(``<link rel="alternate" type="application/rss+xml">`` and the Atom kind).
A response that is neither fails its task with ``not an RSS or Atom feed``.

Arguments: ``url``/``urls`` as for every spider.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import scrapy
from parsel import Selector
from scrapy.http import Response, TextResponse

from scraperq.fields import clean_text
from scraperq.items import FeedEntry
from scraperq.spiders.base import TaskSpider

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+xml")


class NotAFeed(ValueError):
    """The response is neither RSS nor Atom, and advertises no feed."""


class FeedSpider(TaskSpider):
    name = "feed"
    item_class = FeedEntry

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        feed = _feed_selector(response)
        if feed is None:
            alternates = _advertised_feeds(response)
            if not alternates:
                ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1") or "no content type"
                raise NotAFeed(f"not an RSS or Atom feed ({ctype})")
            for url in alternates:
                yield scrapy.Request(url, callback=self.parse)
            return
        if feed.xpath("/feed"):
            yield from self.parse_atom(feed, response)
        else:
            yield from self.parse_rss(feed, response)

    def parse_rss(self, feed: Selector, response: Response) -> Iterator[FeedEntry]:
        feed_title = _text(feed, "/*/channel/title")
        for entry in feed.xpath("//item"):
            link = _text(entry, "link") or _guid_link(entry)
            yield FeedEntry(
                url=response.urljoin(link) if link else None,
                title=_text(entry, "title"),
                id=_text(entry, "guid") or _text(entry, "@about"),
                published=_date(_text(entry, "pubDate") or _text(entry, "date")),
                updated=_date(_text(entry, "updated") or _text(entry, "modified")),
                author=_text(entry, "creator") or _text(entry, "author"),
                summary=_text(entry, "description") or _text(entry, "encoded"),
                categories=_texts(entry, "category") or _texts(entry, "subject"),
                feed=response.url,
                feed_title=feed_title,
            )

    def parse_atom(self, feed: Selector, response: Response) -> Iterator[FeedEntry]:
        feed_title = _text(feed, "/feed/title")
        for entry in feed.xpath("/feed/entry"):
            link = entry.xpath("link[@rel='alternate' or not(@rel)]/@href").get() or entry.xpath("link/@href").get()
            yield FeedEntry(
                url=response.urljoin(link.strip()) if link else None,
                title=_text(entry, "title"),
                id=_text(entry, "id"),
                published=_date(_text(entry, "published") or _text(entry, "issued")),
                updated=_date(_text(entry, "updated") or _text(entry, "modified")),
                author=_text(entry, "author/name"),
                summary=_text(entry, "summary") or _text(entry, "content"),
                categories=[clean_text(t) for t in entry.xpath("category/@term").getall() if t.strip()] or None,
                feed=response.url,
                feed_title=feed_title,
            )


def _feed_selector(response: Response) -> Selector | None:
    """The document as namespace-free XML when it is RSS, RDF or Atom."""
    head = response.body[:1024].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return None
    try:
        selector = Selector(body=response.body, type="xml")
    except ValueError:
        return None
    selector.remove_namespaces()
    root = selector.xpath("name(/*)").get()
    return selector if root in ("rss", "RDF", "feed") else None


def _advertised_feeds(response: Response) -> list[str]:
    if not isinstance(response, TextResponse):
        return []
    links = response.xpath("//link[@rel='alternate' and @href]")
    return [
        response.urljoin(link.attrib["href"]) for link in links if link.attrib.get("type", "").lower() in FEED_TYPES
    ]


def _text(node: Selector, path: str) -> str | None:
    value = node.xpath(f"string({path})").get() if not path.startswith("@") else node.xpath(path).get()
    value = clean_text(value or "")
    return value or None


def _texts(node: Selector, path: str) -> list[str] | None:
    values = [clean_text(v) for v in node.xpath(f"{path}//text()").getall()]
    return [v for v in values if v] or None


def _guid_link(entry: Selector) -> str | None:
    guid = entry.xpath("guid[not(@isPermaLink='false')]/text()").get()
    guid = (guid or "").strip()
    return guid if guid.startswith(("http://", "https://")) else None


def _date(raw: str | None) -> str | None:
    """ISO 8601 for RFC 822 (RSS) and ISO (Atom, Dublin Core) dates; anything else as given."""
    if not raw:
        return None
    try:
        parsed = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return raw
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()
