"""What the routes work with: the daemon's database and node pool, the schedule service, Redis.

Built from the :class:`~scheduler.app.SchedulerApp` that ``scraperq scheduler``
runs, so an API call shares the daemon's connection pool and its view of the
Scrapyd nodes (one ``daemonstatus.json`` round per second at most, whoever
asks). Schedules change through :mod:`scheduler.service`, as the CLI's do; a run
started here is a request the leading daemon dispatches like any other.

Nothing here loads Scrapy or Twisted: spiders and their arguments come from
their declarations (``scraperq/spiders/arguments.py``), URLs go to Redis through
:mod:`scraperq.submit`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scheduler.api.config import ApiConfig
from scheduler.metrics import SchedulerMetrics
from scheduler.nodes import NodePool
from scheduler.service import ScheduleService
from scraperq.storage.connection import Database
from scraperq.submit import redis_client

if TYPE_CHECKING:
    from scheduler.app import SchedulerApp


@dataclass
class ApiContext:
    config: ApiConfig
    settings: Any  # the project's settings (a mapping)
    db: Database
    pool: NodePool
    service: ScheduleService
    # None when the API runs without a daemon loop (then there is no leadership to report).
    is_leader: Callable[[], bool] | None = None
    # Wakes the daemon's loop at once (a run was requested); None without a loop.
    wake: Callable[[], None] | None = None
    # The daemon's registry; the API adds its collector of the stored state to it.
    metrics: SchedulerMetrics = field(default_factory=SchedulerMetrics)
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
            service=ScheduleService(app.db, settings),
            is_leader=daemon.leadership.is_leader.is_set,
            wake=daemon.wake,
            metrics=app.metrics,
        )

    def __post_init__(self) -> None:
        from scheduler.api.metrics import StateCollector

        self.metrics.registry.register(StateCollector(self))

    def check_spider(self, name: str) -> None:
        """BadInput unless the project has the spider (the message ``scraperq enqueue`` gives)."""
        self.service.spider(name)

    def redis(self) -> Any:
        """The ``REDIS_URL`` client, made on first use (redis-py pools connections and is thread-safe).

        ConfigError when ``REDIS_URL`` is unset, StorageUnavailable when Redis does
        not answer; the next call tries again.
        """
        with self._redis_lock:
            if self._redis is None:
                self._redis = redis_client(self.settings)
            return self._redis

    def close(self) -> None:
        """Release what the API opened itself (the database belongs to the daemon)."""
        with self._redis_lock:
            if self._redis is not None:
                self._redis.close()
                self._redis = None
