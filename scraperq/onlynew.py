"""Only-new crawls: pages a spider stored before are neither fetched nor stored again.

Turned on per crawl with ``-a only_new=1`` or for every crawl with the setting
``SCRAPERQ_ONLY_NEW=1``; ``-a refresh=changed`` (which implies it) stores a page
again when its modification date is later or its content changed.

Two halves, both keyed by the page's canonical URL per spider
(:func:`scraperq.storage.results.url_key`; a source file is a spider of its own):

* :class:`OnlyNewMiddleware` (spider middleware) looks up, in one query per
  response, the requests a callback yields, and drops those whose page is stored
  already. With ``refresh=changed`` it keeps those whose listing entry (a feed's
  ``updated``, a sitemap's ``lastmod``) is later than the stored page, and those
  with no modification date to judge by: they are fetched, and their content
  decides. The task's own page (a start URL) is always fetched: it is where new
  links are found.
* :func:`page_claim` tells the store pipeline which page an item stands for; the
  result is inserted only if its claim succeeds in the same transaction
  (:mod:`scraperq.storage.results` says why this holds across workers). Items
  without a ``url`` of their own stand for no page and are stored as usual.

The worker keeps nothing per URL in memory: stored pages live in the database,
about 110 bytes each on disk (``bench/only_new.py``).

Settings: ``SCRAPERQ_ONLY_NEW``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_to_future
from twisted.internet import threads

from scraperq.crawlstore import CrawlStore
from scraperq.scope import host_of, registrable_domain
from scraperq.storage.results import PageClaim, stored_pages, url_key

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

ENTRY = "listing_entry"  # request meta set by scraperq.spiders.listing: what the feed or sitemap said


def only_new_mode(spider: Any, settings: Any) -> tuple[bool, bool]:
    """(only new pages, refresh changed ones) for this crawl: its arguments, else the setting."""
    refresh = getattr(spider, "refresh", "never") == "changed"
    only_new = getattr(spider, "only_new", None)
    if only_new is None:
        only_new = settings.getbool("SCRAPERQ_ONLY_NEW", False)
    return bool(only_new) or refresh, refresh


# -- which page an item stands for --------------------------------------------------------


def page_claim(item: Any, response_url: str, *, refresh: bool) -> PageClaim | None:
    """The claim a result makes on its page: key, other URLs it was reached by, date, content hash.

    None for an item without a ``url`` of its own (records of a JSON API, several items
    listed on one page): it stands for no page, and is stored as in any crawl.
    """
    data = item if type(item) is dict else ItemAdapter(item).asdict()
    url = _text(data.get("url"))
    if url is None:
        return None
    identity = _canonical(_text(data.get("canonical")), url)
    entry = data.get("entry") if isinstance(data.get("entry"), dict) else {}
    aliases = {url_key(u) for u in (url, response_url, _text(entry.get("url"))) if u}
    key = url_key(identity)
    aliases.discard(key)
    modified = None
    for field in ("modified", "updated", "lastmod", "published"):
        modified = _as_utc(data.get(field))
        if modified is not None:
            break
    return PageClaim(key, tuple(sorted(aliases)), modified, content_hash(data), refresh)


def content_hash(data: dict[str, Any]) -> int:
    """A signed 64-bit hash of what a reader would call the page's content.

    For pages with a main text, the headline and text (not the links, ads or counters
    around them); for other items, the whole item.
    """
    if isinstance(data.get("text"), str):
        basis = f"{data.get('headline') or ''}\n{data['text']}"
    else:
        basis = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return int.from_bytes(hashlib.blake2b(basis.encode(), digest_size=8).digest(), "big", signed=True)


def _canonical(canonical: str | None, url: str) -> str:
    """The page's ``rel=canonical`` when it names another page of the same site, else its URL.

    A canonical pointing at the site's home page (a common template mistake) would
    make every article one page: it is ignored.
    """
    if not canonical or not canonical.startswith(("http://", "https://")):
        return url
    if registrable_domain(host_of(canonical)) != registrable_domain(host_of(url)):
        return url
    path = canonical.split("//", 1)[1].partition("/")[2]
    return canonical if path.strip("/") else url


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _as_utc(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


# -- skipping requests for stored pages ---------------------------------------------------------


class OnlyNewMiddleware:
    def __init__(self, crawler: Crawler, *, refresh: bool) -> None:
        self.crawler = crawler
        self.store = CrawlStore.for_crawler(crawler)
        self.refresh = refresh

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> OnlyNewMiddleware:
        only_new, refresh = only_new_mode(crawler.spider, crawler.settings)
        if not only_new:
            raise NotConfigured("only-new crawls are off (-a only_new=1 or SCRAPERQ_ONLY_NEW=1)")
        return cls(crawler, refresh=refresh)

    async def process_spider_output(self, response: Response, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        held: list[Any] = []
        async for obj in result:
            held.append(obj)
        requests = [obj for obj in held if isinstance(obj, Request)]
        skip = await self._stored(requests) if requests else set()
        for obj in held:
            if id(obj) in skip:
                self.crawler.stats.inc_value("scraperq/only_new/skipped")
                continue
            yield obj

    async def _stored(self, requests: Iterable[Request]) -> set[int]:
        """ids of the requests whose page needs no fetch."""
        spider = self.crawler.spider
        keyed = [(url_key(r.url), r) for r in requests]
        found = await deferred_to_future(
            threads.deferToThread(stored_pages, self.store.db, spider.name, [k for k, _ in keyed])
        )
        skip = set()
        for key, request in keyed:
            if key not in found:
                continue
            if self.refresh and not _entry_older(request, found[key]):
                continue  # the listing says it changed, or says nothing: fetch it and compare
            skip.add(id(request))
        return skip


def _entry_older(request: Request, stored_modified: datetime | None) -> bool:
    """Whether the listing entry behind a request dates its last change no later than the stored copy.

    Only a modification date counts (a feed's ``updated``, a sitemap's ``lastmod``): a
    publication date says nothing about later edits.
    """
    entry = request.meta.get(ENTRY) or {}
    dates = [d for d in (_as_utc(entry.get(f)) for f in ("updated", "lastmod")) if d is not None]
    if not dates or stored_modified is None:
        return False
    stored = stored_modified if stored_modified.tzinfo else stored_modified.replace(tzinfo=UTC)
    return max(dates) <= stored
