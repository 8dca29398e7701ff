"""The ``feed`` spider: entries of RSS (0.9x, 1.0/RDF, 2.0) and Atom feeds, or the articles they lead to.

``scrapy crawl feed -a url=https://example.org/feed.xml`` stores one
:class:`~scraperq.items.FeedEntry` per entry: link, title, id, dates (ISO 8601
when they can be read, else None), author, summary and categories. With
``-a follow=1`` it fetches each entry's page instead and stores it as the generic
spider would, merged with the entry (:mod:`scraperq.spiders.listing`). Given an
HTML page, it follows the page's advertised feeds (``<link rel="alternate"
type="application/rss+xml">`` and the Atom kind). A response that is neither
fails its task with ``not an RSS or Atom feed``.

Feeds are read by feedparser (from the response's bytes: it never fetches
anything itself), which knows every RSS and Atom version, their namespaces
(Dublin Core, ``content:encoded``, ...), CDATA, ``xml:base`` and relative links
(resolved against the feed's URL), dozens of date formats, and feeds that are
not quite well-formed XML. Summaries are HTML as feedparser sanitizes it.

Arguments: ``url``/``urls`` as for every spider; ``follow``, ``allow``, ``since``
and ``text`` as :mod:`scraperq.spiders.listing` says.
"""

from __future__ import annotations

import calendar
import html
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import scrapy
from scrapy.http import Response, TextResponse
from w3lib.html import remove_tags

from scraperq.fields import clean_text
from scraperq.items import FeedEntry
from scraperq.spiders.arguments import FEED
from scraperq.spiders.listing import ListingSpider

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+xml")


class NotAFeed(ValueError):
    """The response is neither RSS nor Atom, and advertises no feed."""


class FeedSpider(ListingSpider):
    name = "feed"
    arguments = FEED
    item_class = FeedEntry

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        parsed = _parse_feed(response)
        if parsed is None:
            alternates = _advertised_feeds(response)
            if not alternates:
                ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1") or "no content type"
                raise NotAFeed(f"not an RSS or Atom feed ({ctype})")
            for url in alternates:
                yield scrapy.Request(url, callback=self.parse)
            return
        feed_title = _plain(parsed.feed, "title")
        is_atom = str(parsed.get("version", "")).startswith("atom")
        for raw in parsed.entries:
            entry = _entry(raw, response.url, feed_title, is_atom=is_atom)
            if self.keeps(entry["url"], entry["published"], entry["updated"]):
                yield self.entry_output(entry)

    def entry_output(self, entry: dict[str, Any]) -> Any:
        output = super().entry_output(entry)
        return FeedEntry(**output) if output is entry else output


def _parse_feed(response: Response) -> Any:
    """feedparser's reading of the response, or None when it is no feed (an HTML page, say)."""
    import feedparser

    head = response.body[:1024].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return None
    headers = {"content-location": response.url}
    ctype = response.headers.get(b"Content-Type")
    if ctype:
        headers["content-type"] = ctype.decode("latin-1")
    # A stream, never a string: feedparser fetches a string that looks like a URL.
    parsed = feedparser.parse(io.BytesIO(response.body), response_headers=headers)
    return parsed if parsed.get("version") else None


def _entry(raw: Any, feed_url: str, feed_title: str | None, *, is_atom: bool) -> dict[str, Any]:
    content = raw.get("content") or []
    # dict.get: feedparser's own get() answers "updated" with the published date when there is none.
    published = _date(dict.get(raw, "published"), dict.get(raw, "published_parsed"))
    updated = _date(dict.get(raw, "updated"), dict.get(raw, "updated_parsed"))
    if published is None and not is_atom:
        # feedparser files Dublin Core's dc:date, the date of RSS 1.0 items, as "updated".
        published, updated = updated, None
    return {
        "url": raw.get("link") or None,
        "title": _plain(raw, "title"),
        "id": raw.get("id") or None,
        "published": published,
        "updated": updated,
        "author": clean_text((raw.get("author_detail") or {}).get("name") or raw.get("author") or "") or None,
        "summary": (raw.get("summary") or (content[0].get("value") if content else "") or "").strip() or None,
        "categories": [clean_text(t["term"]) for t in raw.get("tags") or () if (t.get("term") or "").strip()] or None,
        "feed": feed_url,
        "feed_title": feed_title,
    }


def _plain(node: Any, key: str) -> str | None:
    """A text construct as plain text (Atom titles may be HTML or XHTML)."""
    value = node.get(key) or ""
    if (node.get(f"{key}_detail") or {}).get("type") in ("text/html", "application/xhtml+xml"):
        value = html.unescape(remove_tags(value))
    return clean_text(value) or None


def _advertised_feeds(response: Response) -> list[str]:
    if not isinstance(response, TextResponse):
        return []
    links = response.xpath("//link[@rel='alternate' and @href]")
    return [
        response.urljoin(link.attrib["href"]) for link in links if link.attrib.get("type", "").lower() in FEED_TYPES
    ]


def _date(raw: str | None, parsed: Any) -> str | None:
    """ISO 8601 keeping the feed's own offset (RFC 822 and ISO dates), else feedparser's reading
    of other formats (in UTC); None for a date nobody can read."""
    if raw:
        for read in (parsedate_to_datetime, _fromiso):
            try:
                when = read(raw.strip())
            except (TypeError, ValueError, IndexError):
                continue
            return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()
    if parsed:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC).isoformat()
    return None


def _fromiso(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
