"""What the routes work with: the daemon's own database, node pool, dispatcher and tracker.

Built from the :class:`~scheduler.app.SchedulerApp` that ``scraperq scheduler``
runs, so an API call shares the daemon's connection pool, its view of the
Scrapyd nodes (one ``daemonstatus.json`` round per second at most, whoever
asks) and its list of possible duplicate jobs: a run started through the API
takes exactly the path a fire time takes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scheduler.api.config import ApiConfig
from scheduler.api.stats import RequestStats
from scheduler.dispatch import Dispatcher
from scheduler.nodes import NodePool
from scheduler.tracker import JobTracker
from scraperq.errors import BadInput
from scraperq.storage.connection import Database

if TYPE_CHECKING:
    from scheduler.app import SchedulerApp


@dataclass
class ApiContext:
    config: ApiConfig
    settings: Any  # the project's Scrapy settings
    db: Database
    pool: NodePool
    dispatcher: Dispatcher
    tracker: JobTracker
    # None when the API runs without a daemon loop (then there is no leadership to report).
    is_leader: Callable[[], bool] | None = None
    stats: RequestStats = field(default_factory=RequestStats)
    _spiders: tuple[str, ...] | None = field(default=None, repr=False)
    _spiders_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _redis: Any = field(default=None, repr=False)
    _redis_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def for_scheduler(cls, app: SchedulerApp, settings: Any, config: ApiConfig) -> ApiContext:
        daemon = app.daemon
        return cls(
            config=config,
            settings=settings,
            db=app.db,
            pool=app.pool,
            dispatcher=daemon.dispatcher,
            tracker=daemon.tracker,
            is_leader=daemon.leadership.is_leader.is_set,
        )

    def spiders(self) -> tuple[str, ...]:
        """The project's spiders, as ``scrapy list`` shows them (loaded once: loading imports every spider)."""
        with self._spiders_lock:
            if self._spiders is None:
                from scrapy.spiderloader import get_spider_loader

                self._spiders = tuple(sorted(get_spider_loader(self.settings).list()))
            return self._spiders

    def check_spider(self, name: str) -> None:
        """BadInput unless the project has the spider (the message ``scraperq enqueue`` gives)."""
        known = self.spiders()
        if name not in known:
            raise BadInput(f"unknown spider {name!r}: this project has {', '.join(known) or 'no spiders'}")

    def redis(self) -> Any:
        """The ``REDIS_URL`` client, made on first use (redis-py pools connections and is thread-safe).

        ConfigError when ``REDIS_URL`` is unset, StorageUnavailable when Redis does
        not answer; the next call tries again.
        """
        with self._redis_lock:
            if self._redis is None:
                from scraperq.payloads import queue_client

                self._redis = queue_client(self.settings)
            return self._redis

    def close(self) -> None:
        """Release what the API opened itself (the database belongs to the daemon)."""
        with self._redis_lock:
            if self._redis is not None:
                self._redis.close()
                self._redis = None
