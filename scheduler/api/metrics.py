"""``GET /metrics``: the daemon's registry (:mod:`scheduler.metrics`) in the Prometheus text format,
plus the state read at scrape time, by a custom collector, from the database, Redis and the nodes.

Series read at scrape time (``spider`` is one of the project's spiders, or ``other``
for rows of a spider the project no longer has; ``node`` is a configured node's
URL without credentials):

* ``scraperq_database_up``, ``scraperq_redis_up`` (only with ``REDIS_URL``);
* ``scraperq_tasks{spider,status}``; ``scraperq_items_total{spider}`` (results stored),
  ``scraperq_pages_total{spider}`` (responses received by job runs),
  ``scraperq_task_failures_total{spider}`` (tasks that failed);
* ``scraperq_job_runs_total{spider,outcome}`` (ended runs: finished, failed, cancelled,
  skipped, missed) and ``scraperq_job_runs_active{status}``;
* ``scraperq_schedules{state="active|paused"}``;
* ``scraperq_queue_depth{spider}`` (start URLs and queued requests), ``scraperq_queue_delayed``,
  ``scraperq_queue_held``, ``scraperq_queue_workers``, ``scraperq_dead_letters`` (each ``{spider}``);
* ``scraperq_scrapyd_node_up{node}``, ``scraperq_scrapyd_node_jobs{node,state}``,
  ``scraperq_scrapyd_node_capacity{node}``; ``scraperq_scheduler_leader``;
* ``scraperq_alert_deliveries{destination,status}``.

When the database or Redis cannot be reached, the scrape still succeeds, with
``..._up 0`` and the series that do not need it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector
from werkzeug.wrappers import Request, Response

from scraperq.errors import ConfigError, StorageUnavailable
from scraperq.storage import figures, jobs
from scraperq.storage import schedules as store
from scraperq.storage.tasks import STATUSES as TASK_STATUSES

if TYPE_CHECKING:
    from scheduler.api.context import ApiContext

logger = logging.getLogger(__name__)

OTHER = "other"


class StateCollector(Collector):
    """What the daemon's storage, queue and nodes hold now, read at each scrape."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        spiders = self._spiders()
        yield from self._database(spiders)
        yield from self._queues(spiders)
        yield from self._nodes()
        if self.ctx.is_leader is not None:
            leader = GaugeMetricFamily("scraperq_scheduler_leader", "1 while this daemon holds the scheduler lock.")
            leader.add_metric([], int(self.ctx.is_leader()))
            yield leader

    def _spiders(self) -> list[str]:
        try:
            return sorted(self.ctx.service.spiders())
        except Exception:  # a broken source file must not take the metrics away
            logger.warning("Metrics without spider names", exc_info=True)
            return []

    def _database(self, spiders: list[str]) -> Iterator[Metric]:
        up = GaugeMetricFamily("scraperq_database_up", "1 when the database answered this scrape.")
        db = self.ctx.db
        try:
            tasks = figures.tasks_by_spider(db)
            items = figures.results_by_spider(db)
            runs = figures.runs_by_spider(db)
            deliveries = figures.deliveries_by_status(db)
            schedules = store.list_schedules(db)
        except StorageUnavailable as exc:
            logger.warning("Metrics without the database: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        known = set(spiders)
        label = lambda name: name if name in known else OTHER  # noqa: E731
        shown = [*spiders, OTHER]

        by_status: Counter[tuple[str, str]] = Counter()
        for (spider, status), n in tasks.items():
            by_status[(label(spider), status)] += n
        family = GaugeMetricFamily("scraperq_tasks", "Tasks by spider and status.", labels=["spider", "status"])
        for spider in shown:
            for status in TASK_STATUSES:
                if spider != OTHER or by_status[(spider, status)]:
                    family.add_metric([spider, status], by_status[(spider, status)])
        yield family
        failures = CounterMetricFamily(
            "scraperq_task_failures", "Tasks that failed (their error is in the task).", labels=["spider"]
        )
        for spider in shown:
            if spider != OTHER or by_status[(spider, "failed")]:
                failures.add_metric([spider], by_status[(spider, "failed")])
        yield failures

        stored: Counter[str] = Counter()
        for spider, n in items.items():
            stored[label(spider)] += n
        yield _per_spider(CounterMetricFamily, "scraperq_items", "Items stored (rows in results).", stored, spiders)

        outcomes: Counter[tuple[str, str]] = Counter()
        pages: Counter[str] = Counter()
        active: Counter[str] = Counter()
        for (spider, status), (n, received) in runs.items():
            pages[label(spider)] += received
            if status in jobs.FINAL_STATUSES:
                outcomes[(label(spider), status)] += n
            else:
                active[status] += n
        yield _per_spider(
            CounterMetricFamily, "scraperq_pages", "Responses received by the crawls of job runs.", pages, spiders
        )
        family = CounterMetricFamily(
            "scraperq_job_runs", "Job runs that ended, by spider and outcome.", labels=["spider", "outcome"]
        )
        for spider in shown:
            for outcome in jobs.FINAL_STATUSES:
                if spider != OTHER or outcomes[(spider, outcome)]:
                    family.add_metric([spider, outcome], outcomes[(spider, outcome)])
        yield family
        family = GaugeMetricFamily("scraperq_job_runs_active", "Job runs not ended yet, by status.", labels=["status"])
        for status in jobs.ACTIVE_STATUSES:
            family.add_metric([status], active[status])
        yield family

        states = Counter("active" if s.enabled else "paused" for s in schedules)
        family = GaugeMetricFamily("scraperq_schedules", "Schedules by state.", labels=["state"])
        for state in ("active", "paused"):
            family.add_metric([state], states[state])
        yield family

        family = GaugeMetricFamily(
            "scraperq_alert_deliveries",
            "Alert deliveries by destination and status (pending, delivered, failed).",
            labels=["destination", "status"],
        )
        for destination in ("webhook", "slack"):
            for status in ("pending", "delivered", "failed"):
                family.add_metric([destination, status], deliveries.get((destination, status), 0))
        yield family

    def _queues(self, spiders: list[str]) -> Iterator[Metric]:
        if not self.ctx.settings.get("REDIS_URL"):
            return
        from scraperq.queue.connection import REDIS_DOWN_ERRORS
        from scraperq.queue.keys import QueueKeys
        from scraperq.queue.redisqueue import RedisQueue

        up = GaugeMetricFamily("scraperq_redis_up", "1 when Redis answered this scrape.")
        try:
            client = self.ctx.redis()
            sizes = {s: asdict(RedisQueue(client, QueueKeys.for_spider(s, self.ctx.settings)).sizes()) for s in spiders}
        except (StorageUnavailable, ConfigError, *REDIS_DOWN_ERRORS) as exc:
            logger.warning("Metrics without Redis: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        series = (
            (
                "scraperq_queue_depth",
                "Start URLs and requests waiting in the spider's queue.",
                ("start_urls", "requests"),
            ),
            ("scraperq_queue_delayed", "Requests waiting for their retry time.", ("delayed",)),
            ("scraperq_queue_held", "Requests leased by workers now.", ("held",)),
            ("scraperq_queue_workers", "Workers holding a lease.", ("workers",)),
            ("scraperq_dead_letters", "Entries given up on, in the dead-letter list.", ("dead",)),
        )
        for name, text, fields in series:
            values = {spider: sum(sizes[spider][f] for f in fields) for spider in spiders}
            yield _per_spider(GaugeMetricFamily, name, text, values, spiders, other=False)

    def _nodes(self) -> Iterator[Metric]:
        statuses = self.ctx.pool.statuses()
        up = GaugeMetricFamily(
            "scraperq_scrapyd_node_up", "1 when the Scrapyd node answered and has the project.", labels=["node"]
        )
        jobs_on = GaugeMetricFamily(
            "scraperq_scrapyd_node_jobs", "Jobs on the node, by state.", labels=["node", "state"]
        )
        capacity = GaugeMetricFamily(
            "scraperq_scrapyd_node_capacity", "Jobs the node runs at once (SCRAPYD_NODE_CAPACITY).", labels=["node"]
        )
        for status in statuses:
            name = status.node.name
            up.add_metric([name], int(status.up))
            jobs_on.add_metric([name, "running"], status.running)
            jobs_on.add_metric([name, "pending"], status.pending)
            capacity.add_metric([name], status.node.capacity)
        yield from (up, jobs_on, capacity)


def _per_spider(kind: Any, name: str, text: str, values: Any, spiders: list[str], *, other: bool = True) -> Metric:
    family = kind(name, text, labels=["spider"])
    for spider in spiders:
        family.add_metric([spider], values.get(spider, 0))
    if other and values.get(OTHER):
        family.add_metric([OTHER], values[OTHER])
    return family


def metrics(ctx: ApiContext, request: Request) -> Response:
    # The 0.0.4 text format: what every Prometheus and its parsers read.
    return Response(
        generate_latest(ctx.metrics.registry),
        content_type=CONTENT_TYPE_PLAIN_0_0_4,
        headers={"Cache-Control": "no-store"},
    )
