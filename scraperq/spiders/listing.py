"""From a listing's entries to the pages they point to: what ``feed`` and ``sitemap`` share.

With ``-a follow=1`` every kept entry's page is fetched and stored as the generic
spider stores a page (:func:`scraperq.extract.extract_page`), merged with what the
entry said: ``headline``, ``published``, ``modified`` and ``authors`` from the entry
where the page declares none, ``categories`` from the entry, ``listed_in`` (the feed
or sitemap) and ``entry`` (the entry as it would be stored without ``follow``). The
pages belong to the task of the URL the crawl started from, like every request a
task's pages lead to.

Arguments (declared once for both spiders, ``LISTING`` in scraperq/spiders/arguments.py):

* ``follow``: ``1`` to fetch each entry's page, ``0`` (default) to store the entries;
* ``allow``: a regular expression an entry's URL must contain (``re.search``);
* ``since``: an ISO date or time; entries dated before it are dropped (entries without
  a date are kept: nothing says they are old);
* ``text``: how the followed pages' main text is taken, as for the generic spider.

Filters apply before anything is fetched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import scrapy
from scrapy.http import Response, TextResponse

from scraperq.extract import describe_file, extract_page
from scraperq.spiders.base import TaskSpider
from scraperq.spiders.generic import GenericSpider, is_html

ENTRY = "listing_entry"  # request meta: what the entry said, merged into its page


class ListingSpider(TaskSpider):
    """A spider whose pages list entries (feeds, sitemaps) that ``follow=1`` fetches."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.follow_entries: bool = self.args["follow"]
        self.allow: re.Pattern[str] | None = self.args["allow"]
        self.since: datetime | None = self.args["since"]
        self.text_mode: str = self.args["text"]

    def keeps(self, url: str | None, *dates: str | None) -> bool:
        """Whether an entry passes ``allow`` and ``since`` (judged by its latest readable date)."""
        if url and self.allow is not None and not self.allow.search(url):
            return False
        if self.since is None:
            return True
        readable = [when for when in map(_as_datetime, dates) if when is not None]
        return not readable or max(readable) >= self.since

    def entry_output(self, entry: dict[str, Any]) -> Any:
        """The entry itself, or (with ``follow``) the request for its page."""
        url = entry.get("url")
        if not self.follow_entries or not url:
            return entry
        return scrapy.Request(url, callback=self.parse_entry_page, errback=self.entry_failed, meta={ENTRY: entry})

    def parse_entry_page(self, response: Response, **_: Any) -> Iterator[dict[str, Any]]:
        entry = dict(response.meta[ENTRY])
        if isinstance(response, TextResponse) and is_html(response):
            page = extract_page(response, text_mode=self.text_mode)
        else:
            page = describe_file(response)
        yield merge_entry(page, entry)

    # One log line for an entry's page that could not be fetched, as the generic spider logs it.
    entry_failed = GenericSpider.gave_up


def merge_entry(page: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """The page, completed by what its listing entry said (the page's own markup wins)."""
    merged = dict(page)
    for field, entry_field in (
        ("headline", "title"),
        ("published", "published"),
        ("modified", "updated"),
        ("modified", "lastmod"),
    ):
        if not merged.get(field) and entry.get(entry_field):
            merged[field] = entry[entry_field]
    if not merged.get("authors") and entry.get("author"):
        merged["authors"] = [entry["author"]]
    merged["categories"] = entry.get("categories") or []
    merged["listed_in"] = entry.get("feed") or entry.get("sitemap")
    merged["entry"] = entry
    return merged


def _as_datetime(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
