"""``/api/jobs`` (the ``job_runs`` record, newest first) and ``/api/nodes`` (the Scrapyd nodes).

``/api/jobs`` filters by ``schedule`` (a name), ``status`` and ``spider``, and pages
as ``/api/tasks`` does: ``before`` the ``next_before`` of the previous page.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from scheduler.api.context import ApiContext
from scheduler.api.http import json_response, query_choice, query_int, query_text
from scheduler.api.schedules import run_json
from scheduler.scrapyd import NodeStatus
from scraperq.storage import jobs
from scraperq.storage import schedules as store

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


def job_listing(ctx: ApiContext, request: Request) -> Response:
    limit = query_int(request, "limit", default=DEFAULT_LIMIT, high=MAX_LIMIT)
    name = query_text(request, "schedule")
    status = query_choice(request, "status", jobs.STATUSES)
    spider = query_text(request, "spider")
    before = query_int(request, "before")
    schedule_id = store.get_schedule(ctx.db, name).id if name else None
    runs = jobs.list_runs(ctx.db, status=status, spider=spider, schedule_id=schedule_id, before_id=before, limit=limit)
    names = {s.id: s.name for s in store.list_schedules(ctx.db)}
    # Newest first: the next page is everything older than the last row shown.
    next_before = runs[-1].id if len(runs) == limit else None
    return json_response({"jobs": [run_json(r, names) for r in runs], "next_before": next_before})


def node_json(status: NodeStatus) -> dict[str, Any]:
    return {
        "name": status.node.name,  # the URL without credentials
        "up": status.up,
        "state": status.state,
        "running": status.running,
        "pending": status.pending,
        "capacity": status.node.capacity,
        "load": round(status.load, 4),
        "error": status.error,
    }


def node_listing(ctx: ApiContext, request: Request) -> Response:
    return json_response({"nodes": [node_json(s) for s in ctx.pool.statuses()]})
