"""The Redis key names of one spider's queue (templates in :mod:`scraperq.queue.defaults`).

Settings: ``REDIS_START_URLS_KEY``, ``SCHEDULER_QUEUE_KEY``, ``SCHEDULER_DUPEFILTER_KEY``
(scrapy-redis' names; the other keys derive from the spider name). A spider written
for scrapy-redis names its own start key in ``redis_key`` (:mod:`scraperq.queue.startreader`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scraperq.queue import defaults


@dataclass(frozen=True)
class QueueKeys:
    spider: str
    start_urls: str
    requests: str
    dupefilter: str
    dead: str
    delayed: str
    workers: str
    held_prefix: str
    outstanding: str
    sequence: str
    epoch: str
    rebuild_lock: str

    @classmethod
    def for_spider(cls, spider: str, settings: Any = None, *, start_urls: str | None = None) -> QueueKeys:
        def setting(name: str, default: str) -> str:
            value = settings.get(name) if settings is not None else None
            return str(value or default)

        names = {"spider": spider, "name": spider}
        return cls(
            spider=spider,
            start_urls=start_urls or setting("REDIS_START_URLS_KEY", defaults.START_URLS_KEY) % names,
            requests=setting("SCHEDULER_QUEUE_KEY", defaults.QUEUE_KEY) % names,
            dupefilter=setting("SCHEDULER_DUPEFILTER_KEY", defaults.DUPEFILTER_KEY) % names,
            dead=defaults.DEAD_KEY % names,
            delayed=defaults.DELAYED_KEY % names,
            workers=defaults.WORKERS_KEY % names,
            held_prefix=defaults.HELD_KEY_PREFIX % names,
            outstanding=defaults.OUTSTANDING_KEY % names,
            sequence=defaults.SEQUENCE_KEY % names,
            epoch=defaults.EPOCH_KEY % names,
            rebuild_lock=defaults.REBUILD_LOCK_KEY % names,
        )

    def held(self, worker: str) -> str:
        return self.held_prefix + worker
