"""``/api/jobs`` (the ``job_runs`` record, newest first) and ``/api/nodes`` (the Scrapyd nodes)."""

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
    runs = jobs.recent_runs(ctx.db, schedule_id=schedule_id, limit=query.limit)
    names = {s.id: s.name for s in store.list_schedules(ctx.db)}
    return json_response({"jobs": [run_json(r, names) for r in runs]})


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
