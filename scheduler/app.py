"""Composition root: build the scheduler's parts from the settings and run them.

Everything the daemon uses is created here and nowhere else, so other front
ends (the HTTP API and dashboard DESIGN.md describes, metrics) can be wired in
beside the loop without the parts knowing about each other. Nothing happens at
import time.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from scheduler.alerts import Alerts
from scheduler.config import SchedulerConfig
from scheduler.daemon import SchedulerDaemon
from scheduler.leader import Leadership, lock_for
from scheduler.maintenance import Maintenance, MaintenanceConfig
from scheduler.metrics import SchedulerMetrics
from scheduler.nodes import NodePool
from scheduler.scrapyd import ScrapydClient
from scraperq.storage import leader, open_database, redact_url
from scraperq.storage.connection import Database, utcnow

logger = logging.getLogger(__name__)


@dataclass
class SchedulerApp:
    config: SchedulerConfig
    db: Database
    client: ScrapydClient
    pool: NodePool
    daemon: SchedulerDaemon
    metrics: SchedulerMetrics = field(default_factory=SchedulerMetrics)

    def close(self) -> None:
        self.db.close()


def build_client(config: SchedulerConfig) -> tuple[ScrapydClient, NodePool]:
    client = ScrapydClient(project=config.project, timeout=config.http_timeout)
    return client, NodePool(config.nodes, client, max_age=min(1.0, config.tick))


def build_app(settings: Any) -> SchedulerApp:
    config = SchedulerConfig.from_settings(settings)
    # Room for the claiming and dispatch threads, the tracker and the API at once (opened as needed).
    db = open_database(config.database_url, pool_size=16)
    client, pool = build_client(config)
    holder = f"{socket.gethostname()}:{os.getpid()}"
    leadership = Leadership(
        lock_for(config.database_url),
        heartbeat=config.heartbeat,
        on_beat=lambda: leader.beat(db, holder, utcnow()),
    )
    daemon = SchedulerDaemon(config, db, client, pool, leadership)
    daemon.alerts = Alerts.from_settings(settings, db, pool)
    daemon.maintenance = Maintenance(db, MaintenanceConfig.from_settings(settings), clock=daemon.clock)
    metrics = SchedulerMetrics()
    daemon.dispatcher.on_dispatched = metrics.observe_dispatch
    return SchedulerApp(config, db, client, pool, daemon, metrics)


def run(settings: Any) -> int:
    """``scraperq scheduler``: run until SIGTERM or SIGINT, with the HTTP API (scheduler.api) beside the loop.

    ``settings`` is the project's settings as a mapping (``scheduler.settings``): nothing here loads Scrapy.
    """
    from scheduler.api import serve
    from scheduler.api.config import ApiConfig

    api_config = ApiConfig.from_settings(settings)  # refuse a bad API setting before anything starts
    app = build_app(settings)
    config = app.config
    logger.info(
        "Scheduler starting: project %s on %s; database %s",
        config.project,
        ", ".join(n.name for n in config.nodes),
        redact_url(config.database_url),
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        logger.warning("Received %s; stopping after the current step", signal.Signals(signum).name)
        app.daemon.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        api = serve(settings, app, config=api_config)
        try:
            app.daemon.run()
        finally:
            api.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        app.close()
    return 0
