"""``/api/jobs`` (the ``job_runs`` record, newest first) and ``/api/nodes`` (the Scrapyd nodes).

``/api/jobs`` filters by ``schedule`` (a name), ``status`` and ``spider``, and pages
as ``/api/tasks`` does: ``before`` the ``next_before`` of the previous page.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from scheduler.api.context import ApiContext
from scheduler.api.http import json_response
from scheduler.api.models import JobQuery
from scheduler.api.schedules import run_json
from scheduler.scrapyd import NodeStatus
from scraperq.storage import jobs
from scraperq.storage import schedules as store


def job_listing(ctx: ApiContext, request: Request, query: JobQuery) -> Response:
    schedule_id = store.get_schedule(ctx.db, query.schedule).id if query.schedule else None
    runs = jobs.list_runs(
        ctx.db,
        status=query.status,
        spider=query.spider,
        schedule_id=schedule_id,
        before_id=query.before,
        limit=query.limit,
    )
    names = {s.id: s.name for s in store.list_schedules(ctx.db)}
    # Newest first: the next page is everything older than the last row shown.
    next_before = runs[-1].id if len(runs) == query.limit else None
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
