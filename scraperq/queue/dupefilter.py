"""``DUPEFILTER_CLASS``: the seen-set, scoped per task and small per URL.

Scope: a request is a duplicate only of an earlier request *of the same task*
(``meta["task_id"]``). Within one run every URL is fetched once; a later run
(today's scheduled run, a new ``scraperq enqueue`` of the same URL) is a new task
and fetches it again. Fingerprints are Scrapy's (``REQUEST_FINGERPRINTER_CLASS``):
the first 8 bytes as a signed 64-bit integer are what is stored, the next 4
pick a shard.

With the Redis scheduler the seen-set lives in Redis and the scheduler checks it
in the same script that queues the request, so a request is never marked seen
without being queued. Per task, ``NAME:dupefilter`` counts the fingerprints and
``NAME:dupefilter:TASK:LEVEL:SHARD`` hold them: level L has 2^L shards and takes
twice as many fingerprints as level L-1, so every shard keeps about 256 of them
and stays a Redis *intset* (8 bytes each, no per-member overhead) however large
the task grows. A lookup checks one shard per level (about 12 for a million
URLs). About 9.5 bytes per URL, where scrapy-redis' set of 40-character hex
SHA1s takes about 90 (``bench/queue_throughput.py`` measures both). A task's
seen-set is dropped as soon as nothing of it is queued or held any more, and its
shards expire after ``SCRAPERQ_SEEN_TTL`` should a task be abandoned half-way.

Each worker also remembers the last fingerprints of followed links it queued
(``remember``; not a task's own page, which comes once per task), so a link it
met before (most links, on a real site) is dropped without a round trip or
serializing the request. That is safe: a task's seen-set only goes when the
task has nothing queued or held any more, and then no request of it can come.

Without ``REDIS_URL`` (Scrapy's in-process scheduler) the same scoping is kept
in a Python set for the life of the process.

Settings: ``DUPEFILTER_DEBUG``, ``REQUEST_FINGERPRINTER_CLASS``.
"""

from __future__ import annotations

import logging
from itertools import islice
from typing import TYPE_CHECKING, Any, NamedTuple

from scrapy.dupefilters import BaseDupeFilter

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

# Fingerprints a worker keeps to skip known duplicates: about 200 bytes each, so 3 MB at most,
# reached early in a crawl and level from then on. Links met again and again (menus, home
# page, parents) stay in it; a link that fell out costs one push that Redis filters.
REMEMBERED = 16_384


class SeenKey(NamedTuple):  # a tuple: built and hashed in C, once per link met
    task: int | None
    fingerprint: int  # signed 64-bit
    bucket: int  # unsigned 32-bit


def task_of(request: Request) -> int | None:
    task = request.meta.get("task_id")
    return int(task) if task is not None else None


class TaskDupeFilter(BaseDupeFilter):
    def __init__(self, fingerprinter: Any, *, debug: bool = False, crawler: Crawler | None = None) -> None:
        self.fingerprinter = fingerprinter
        self.debug = debug
        self.crawler = crawler
        self._seen: set[tuple[int | None, int]] = set()
        self._remembered: dict[SeenKey, None] = {}  # insertion-ordered: the oldest go first
        self._logged_once = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> TaskDupeFilter:
        return cls(crawler.request_fingerprinter, debug=crawler.settings.getbool("DUPEFILTER_DEBUG"), crawler=crawler)

    def seen_key(self, request: Request) -> SeenKey:
        digest = self.fingerprinter.fingerprint(request)
        return SeenKey(
            task=task_of(request),
            fingerprint=int.from_bytes(digest[:8], "big", signed=True),
            bucket=int.from_bytes(digest[8:12], "big"),
        )

    def remembered(self, key: SeenKey) -> bool:
        """Whether this worker queued ``key`` before (so Redis has it in the seen-set)."""
        return key in self._remembered

    def remember(self, key: SeenKey) -> None:
        self._remembered[key] = None
        if len(self._remembered) > REMEMBERED:
            for old in list(islice(self._remembered, REMEMBERED // 2)):
                del self._remembered[old]

    def forget(self) -> None:
        """Forget what this worker queued (the seen-set it was in is gone)."""
        self._remembered.clear()

    def request_seen(self, request: Request) -> bool:
        """In-process check (the local scheduler); the Redis scheduler checks in Redis."""
        key = self.seen_key(request)
        scoped = (key.task, key.fingerprint)
        if scoped in self._seen:
            return True
        self._seen.add(scoped)
        return False

    def close(self, reason: str) -> None:
        self._seen.clear()
        self._remembered.clear()

    def log(self, request: Request, spider: Spider) -> None:
        if self.crawler is not None:
            self.crawler.stats.inc_value("dupefilter/filtered")
        if self.debug:
            logger.debug("Filtered duplicate request: %(request)s", {"request": request}, extra={"spider": spider})
        elif not self._logged_once:
            logger.debug(
                "Filtered duplicate request: %(request)s - no more duplicates will be shown"
                " (see DUPEFILTER_DEBUG to show all duplicates)",
                {"request": request},
                extra={"spider": spider},
            )
            self._logged_once = True
