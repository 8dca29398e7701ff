"""``GET /metrics``: the scheduler's state in the Prometheus text exposition format (0.0.4).

Written by hand rather than with ``prometheus_client``: every value is a gauge
read at scrape time from the database or the node pool (plus the API's own
request counters), so a registry, collectors and a second HTTP server would
add a dependency and nothing else.

Series:

* ``scraperq_database_up``: 1 when the database answered this scrape;
* ``scraperq_tasks{status}``, ``scraperq_results``: rows in ``tasks`` and ``results``;
* ``scraperq_schedules{state="active|paused"}``;
* ``scraperq_job_runs_active{status="dispatching|pending|running"}``;
* ``scraperq_scrapyd_node_up{node}``, ``scraperq_scrapyd_node_jobs{node,state}``,
  ``scraperq_scrapyd_node_capacity{node}`` (node names never carry credentials);
* ``scraperq_scheduler_leader``: 1 while this daemon leads;
* ``scraperq_api_requests_total{route,method,code}`` and
  ``scraperq_api_request_duration_seconds`` (a summary: ``_sum`` and ``_count``).

When the database cannot be reached, the scrape still succeeds with
``scraperq_database_up 0`` and the series that do not need it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping

from werkzeug.wrappers import Request, Response

from scheduler.api.context import ApiContext
from scraperq.errors import StorageUnavailable
from scraperq.storage import jobs
from scraperq.storage import schedules as store
from scraperq.storage.results import count_results
from scraperq.storage.tasks import count_by_status

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = Mapping[str, str]


class Exposition:
    """Collects metric families and writes them out, HELP and TYPE once per family."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: Iterable[tuple[Labels, float]]) -> None:
        self._lines.append(f"# HELP {name} {help_text}")
        self._lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self._lines.append(f"{name}{_labels(labels)} {_number(value)}")

    def sample(self, name: str, labels: Labels, value: float) -> None:
        """A sample of the family declared just before (a summary's ``_sum`` and ``_count``)."""
        self._lines.append(f"{name}{_labels(labels)} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape(str(value))}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def collect(ctx: ApiContext) -> str:
    out = Exposition()
    _database(ctx, out)
    _nodes(ctx, out)
    if ctx.is_leader is not None:
        out.family(
            "scraperq_scheduler_leader",
            "gauge",
            "1 while this daemon holds the scheduler lock and fires schedules.",
            [({}, int(ctx.is_leader()))],
        )
    _api(ctx, out)
    return out.text()


def _database(ctx: ApiContext, out: Exposition) -> None:
    try:
        tasks = count_by_status(ctx.db)
        results = count_results(ctx.db)
        schedules = store.list_schedules(ctx.db)
        active = jobs.runs_with_status(ctx.db, jobs.ACTIVE_STATUSES)
    except StorageUnavailable as exc:
        logger.warning("Metrics without the database: %s", exc)
        out.family("scraperq_database_up", "gauge", "1 when the database answered this scrape.", [({}, 0)])
        return
    out.family("scraperq_database_up", "gauge", "1 when the database answered this scrape.", [({}, 1)])
    out.family("scraperq_tasks", "gauge", "Tasks by status.", [({"status": s}, n) for s, n in sorted(tasks.items())])
    out.family("scraperq_results", "gauge", "Rows in the results table.", [({}, results)])
    states = Counter("active" if s.enabled else "paused" for s in schedules)
    out.family(
        "scraperq_schedules",
        "gauge",
        "Schedules by state.",
        [({"state": state}, states[state]) for state in ("active", "paused")],
    )
    statuses = Counter(run.status for run in active)
    out.family(
        "scraperq_job_runs_active",
        "gauge",
        "Job runs not finished yet, by status.",
        [({"status": status}, statuses[status]) for status in jobs.ACTIVE_STATUSES],
    )


def _nodes(ctx: ApiContext, out: Exposition) -> None:
    statuses = ctx.pool.statuses()
    out.family(
        "scraperq_scrapyd_node_up",
        "gauge",
        "1 when the Scrapyd node answered daemonstatus.json.",
        [({"node": s.node.name}, int(s.up)) for s in statuses],
    )
    out.family(
        "scraperq_scrapyd_node_jobs",
        "gauge",
        "Jobs on the Scrapyd node, by state.",
        [
            ({"node": s.node.name, "state": state}, getattr(s, state))
            for s in statuses
            for state in ("running", "pending")
        ],
    )
    out.family(
        "scraperq_scrapyd_node_capacity",
        "gauge",
        "Jobs the node runs at once (SCRAPYD_NODE_CAPACITY).",
        [({"node": s.node.name}, s.node.capacity) for s in statuses],
    )


def _api(ctx: ApiContext, out: Exposition) -> None:
    requests, seconds = ctx.stats.snapshot()
    out.family(
        "scraperq_api_requests_total",
        "counter",
        "HTTP API requests answered, by route pattern, method and status code.",
        [
            ({"route": route, "method": method, "code": str(code)}, n)
            for (route, method, code), n in sorted(requests.items())
        ],
    )
    counts: Counter[tuple[str, str]] = Counter()
    for (route, method, _code), n in requests.items():
        counts[(route, method)] += n
    out.family("scraperq_api_request_duration_seconds", "summary", "Time to answer HTTP API requests.", [])
    for (route, method), total in sorted(seconds.items()):
        labels = {"route": route, "method": method}
        out.sample("scraperq_api_request_duration_seconds_sum", labels, total)
        out.sample("scraperq_api_request_duration_seconds_count", labels, counts[(route, method)])


def metrics(ctx: ApiContext, request: Request) -> Response:
    return Response(collect(ctx), content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
