"""The daemon's Prometheus registry: what it measures itself (prometheus_client), served at ``/metrics``.

One registry per daemon (not the library's global one), so that several daemons
in one process (the tests) keep their own figures. Measured here as they happen:
the time from a run's fire time to its job on a node (``scraperq_dispatch_latency_seconds``)
and the API's requests (count by route, method and status code; duration as a
histogram). The state read at scrape time from the database, Redis and the
nodes is a collector of the API's (:mod:`scheduler.api.metrics`); the process's
own figures (CPU, memory, open files, GC) come from prometheus_client's collectors.

Label values come only from fixed sets: a route's pattern (``/api/tasks/{task_id}``,
or ``unmatched``), an HTTP method the API knows (anything else is ``other``) and a
status code the server sent, so no client can make the number of series grow.
"""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

# `_created` series (a timestamp per labelled series) double the output and no dashboard reads them.
prometheus_client.disable_created_metrics()

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# API answers: most take milliseconds; an export of millions of rows takes minutes.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
# From a fire time to a node's acceptance: the loop ticks every second, a busy node may take seconds.
DISPATCH_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


class SchedulerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.dispatch_latency = Histogram(
            "scraperq_dispatch_latency_seconds",
            "From a run's fire time (or the request, for a run by hand) to a Scrapyd node accepting its job.",
            buckets=DISPATCH_BUCKETS,
            registry=self.registry,
        )
        self.api_requests = Counter(
            "scraperq_api_requests",
            "HTTP API requests answered, by route pattern, method and status code.",
            ["route", "method", "code"],
            registry=self.registry,
        )
        self.api_seconds = Histogram(
            "scraperq_api_request_duration_seconds",
            "Time to answer HTTP API requests (up to the first byte of a streamed body), by route pattern and method.",
            ["route", "method"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )

    def observe_dispatch(self, seconds: float) -> None:
        self.dispatch_latency.observe(max(0.0, seconds))

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """``route`` is a route's pattern or ``unmatched``, never a path a client sent."""
        method = method if method in METHODS else "other"
        code = str(status) if 100 <= status <= 599 else "other"
        self.api_requests.labels(route, method, code).inc()
        self.api_seconds.labels(route, method).observe(seconds)
