"""The daemon's configuration, read once from the project's Scrapy settings.

Every value is a Scrapy setting that an environment variable of the same name
overrides (``scraperq/config.py``, applied by ``scheduler/settings.py``):

``DATABASE_URL``, ``SCRAPYD_NODES``, ``SCRAPYD_PROJECT``, ``SCRAPYD_TIMEOUT``,
``SCRAPYD_NODE_CAPACITY``, ``SCRAPERQ_SCHEDULER_TICK``,
``SCRAPERQ_SCHEDULER_TRACK_INTERVAL``, ``SCRAPERQ_MISFIRE_GRACE``,
``SCRAPERQ_JOB_LOST_AFTER``, ``SCRAPERQ_JOB_HEARTBEAT``, ``SCRAPERQ_DISPATCH_CONCURRENCY``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scheduler.scrapyd import Node, parse_nodes
from scraperq.errors import ConfigError
from scraperq.storage import database_url


@dataclass(frozen=True)
class SchedulerConfig:
    database_url: str
    nodes: tuple[Node, ...]
    project: str
    # Seconds for each HTTP call to a node.
    http_timeout: float = 10.0
    # Longest sleep between looks at the schedules table: the bound on how soon a change is seen.
    tick: float = 1.0
    # How often running jobs are followed through listjobs.json.
    track_interval: float = 2.0
    # How late a fire time may still run (APScheduler's misfire_grace_time; see scheduler.firing).
    misfire_grace: float = 600.0
    # A job whose node stays unreachable this long is recorded as failed.
    job_lost_after: float = 900.0
    # How often the leader proves it still holds its lock (and a follower tries to take it).
    heartbeat: float = 1.0
    # How often a crawl reports itself (scraperq/jobreport.py); six missed reports and it is gone.
    job_heartbeat: float = 10.0
    # schedule.json calls made at once to each node when many fire times fall due together.
    dispatch_concurrency: int = 8

    @property
    def job_silent_after(self) -> float:
        return 6 * self.job_heartbeat

    @classmethod
    def from_settings(cls, settings: Any) -> SchedulerConfig:
        nodes = parse_nodes(
            settings.get("SCRAPYD_NODES") or "",
            default_capacity=_positive(settings, "SCRAPYD_NODE_CAPACITY", int),
        )
        project = (settings.get("SCRAPYD_PROJECT") or "").strip()
        if not project:
            raise ConfigError("SCRAPYD_PROJECT is empty: name the project deployed to the Scrapyd nodes")
        tick = _positive(settings, "SCRAPERQ_SCHEDULER_TICK", float)
        if tick > 2.0:
            raise ConfigError("SCRAPERQ_SCHEDULER_TICK must be at most 2 seconds: changes must show within two")
        return cls(
            database_url=database_url(settings),
            nodes=tuple(nodes),
            project=project,
            http_timeout=_positive(settings, "SCRAPYD_TIMEOUT", float),
            tick=tick,
            track_interval=_positive(settings, "SCRAPERQ_SCHEDULER_TRACK_INTERVAL", float),
            misfire_grace=_positive(settings, "SCRAPERQ_MISFIRE_GRACE", float, allow_zero=True),
            job_lost_after=_positive(settings, "SCRAPERQ_JOB_LOST_AFTER", float),
            heartbeat=min(1.0, tick),
            job_heartbeat=_positive(settings, "SCRAPERQ_JOB_HEARTBEAT", float),
            dispatch_concurrency=_positive(settings, "SCRAPERQ_DISPATCH_CONCURRENCY", int),
        )

    @property
    def dispatch_deadline(self) -> float:
        """The longest one dispatch can take: every node tried once, each up to the timeout."""
        return len(self.nodes) * self.http_timeout + self.tick

    @property
    def settle_after(self) -> float:
        """Age at which a claim no node confirmed is taken for abandoned (``scheduler.recovery``)."""
        return self.dispatch_deadline + max(10.0, self.dispatch_deadline)

    @property
    def dispatch_start_limit(self) -> float:
        """A queued claim older than this is not sent any more: sent now, it could still be under
        way when another daemon starts settling it. Recovery asks the nodes and sends it then."""
        return self.settle_after - self.dispatch_deadline


def _positive(settings: Any, name: str, kind: type, *, allow_zero: bool = False) -> Any:
    raw = settings.get(name)
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name}={raw!r} must be {'0 or more' if allow_zero else 'more than 0'}")
    return value
