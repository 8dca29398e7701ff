"""``/api/tasks``: submit URLs, list tasks, show one.

``POST /api/tasks`` takes ``{"urls": [...], "spider"?: "generic", "priority"?: 0}``
and answers 201 with the new task ids, in the order of the URLs. The URLs go
through the same code path as ``scraperq enqueue`` (:mod:`scheduler.api.submit`).
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from scheduler.api.context import ApiContext
from scheduler.api.http import ApiError, json_response
from scheduler.api.models import MAX_URLS, TaskQuery, TaskSubmission
from scheduler.api.submit import submit_urls
from scraperq.storage.tasks import get_task, list_tasks


def create(ctx: ApiContext, request: Request, body: TaskSubmission) -> Response:
    if len(body.urls) > MAX_URLS:
        raise ApiError(413, f"{len(body.urls)} URLs in one request; at most {MAX_URLS}")
    ctx.check_spider(body.spider)
    task_ids = submit_urls(ctx, body.urls, spider=body.spider, priority=body.priority)
    return json_response({"spider": body.spider, "task_ids": task_ids}, 201)


def listing(ctx: ApiContext, request: Request, query: TaskQuery) -> Response:
    rows = list_tasks(ctx.db, status=query.status, spider=query.spider, limit=query.limit, before_id=query.before)
    # Newest first: the next page is everything older than the last row shown.
    next_before = rows[-1]["id"] if len(rows) == query.limit else None
    return json_response({"tasks": rows, "next_before": next_before})


def detail(ctx: ApiContext, request: Request, task_id: int) -> Response:
    return json_response(get_task(ctx.db, task_id))
