"""The alerting's threads: one looks for events, one courier per destination sends them.

Both act only while the daemon leads (``scheduler.leader``); neither runs in the
daemon's loop, so a slow database query, Redis or a receiver that hangs delays
alerts, never a fire time or a dispatch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from scheduler.alerts.config import AlertConfig
from scheduler.alerts.delivery import Courier
from scheduler.alerts.watch import Watch, settings_spiders
from scheduler.nodes import NodePool
from scraperq.errors import StorageUnavailable, first_line
from scraperq.storage.connection import Database, utcnow

logger = logging.getLogger(__name__)


class Alerts:
    def __init__(
        self,
        config: AlertConfig,
        db: Database,
        pool: NodePool | None,
        *,
        redis_factory: Callable[[], Any] | None = None,
        project_spiders: Callable[[], Any] = tuple,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.watch = Watch(config, db, pool, redis_factory=redis_factory, project_spiders=project_spiders, clock=clock)
        self.couriers = [Courier(db, destination, config, clock=clock) for destination in config.destinations]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._db_failing = False
        self._checking = threading.Lock()  # one pass at a time (the thread's, or one asked for)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], db: Database, pool: NodePool | None) -> Alerts:
        """From the project's settings (``scheduler.settings``); ConfigError naming a bad one."""
        config = AlertConfig.from_settings(settings)
        redis_factory = None
        if str(settings.get("REDIS_URL") or "").strip():
            from scraperq.submit import redis_client

            def redis_factory() -> Any:
                return redis_client(settings)

        return cls(config, db, pool, redis_factory=redis_factory, project_spiders=settings_spiders(settings))

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, is_leader: threading.Event) -> None:
        if self.config.destinations:
            shown = ", ".join(f"{d.name} {d.shown}" for d in self.config.destinations)
            logger.info("Alerts go to %s", shown)
        else:
            logger.info("Alerts are recorded, and sent nowhere: set SCRAPERQ_ALERT_WEBHOOK to receive them")
        for courier in self.couriers:
            courier.start(is_leader)
        self._thread = threading.Thread(target=self._run, args=(is_leader,), name="alerts-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.config.timeout + 5)
        for courier in self.couriers:
            courier.stop()
        self.watch.close()

    def _run(self, is_leader: threading.Event) -> None:
        leading = False
        while not self._stop.is_set():
            if is_leader.is_set():
                if not leading:
                    self.watch.forget()  # another daemon may have changed states while this one stood by
                    leading = True
                try:
                    self.check()
                except Exception:  # a bug here must not take the scheduling down with it: say it, go on
                    logger.exception("Looking for alert events failed")
            else:
                leading = False
            self._stop.wait(self.config.interval)

    def check(self) -> int:
        """One look for events (the watch thread's pass); the couriers are woken for what it raised."""
        try:
            with self._checking:
                raised = self.watch.check()
        except StorageUnavailable as exc:
            if not self._db_failing:
                logger.error("Alerts wait for the database: %s", first_line(exc))
            self._db_failing = True
            return 0
        if self._db_failing:
            logger.info("Alerts go on: the database is back")
            self._db_failing = False
        if raised:
            for courier in self.couriers:
                courier.wake()
        return raised
