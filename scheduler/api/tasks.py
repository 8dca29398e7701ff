"""``/api/tasks``: submit URLs, list tasks, show one.

``POST /api/tasks`` takes ``{"urls": [...], "spider"?: "generic", "priority"?: 0}``
and answers 201 with the new task ids, in the order of the URLs. The URLs go
through the same code path as ``scraperq enqueue`` (:mod:`scheduler.api.submit`).
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from scheduler.api.context import ApiContext
from scheduler.api.http import ApiError, check_fields, is_int, json_response, query_choice, query_int, query_text
from scheduler.api.submit import submit_urls
from scraperq.errors import BadInput
from scraperq.payloads import MAX_PRIORITY
from scraperq.storage.tasks import STATUSES, get_task, list_tasks

DEFAULT_SPIDER = "generic"
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
# URLs in one POST; more is a batch job for `scraperq enqueue --file`.
MAX_URLS = 10_000


def create(ctx: ApiContext, request: Request, body: dict[str, Any]) -> Response:
    check_fields(body, ("urls", "spider", "priority"), required=("urls",))
    urls = body["urls"]
    if not isinstance(urls, list) or not urls:
        raise ApiError(400, "'urls' must be a non-empty array of URLs")
    if len(urls) > MAX_URLS:
        raise ApiError(413, f"{len(urls)} URLs in one request; at most {MAX_URLS}")
    spider = body.get("spider", DEFAULT_SPIDER)
    if not isinstance(spider, str) or not spider:
        raise ApiError(400, "'spider' must be a spider name")
    priority = body.get("priority", 0)
    if not is_int(priority):
        raise ApiError(400, "'priority' must be a whole number")
    if abs(priority) > MAX_PRIORITY:
        raise BadInput(f"priority {priority} is out of range: use -{MAX_PRIORITY} to {MAX_PRIORITY}")
    ctx.check_spider(spider)
    task_ids = submit_urls(ctx, urls, spider=spider, priority=priority)
    return json_response({"spider": spider, "task_ids": task_ids}, 201)


def listing(ctx: ApiContext, request: Request) -> Response:
    status = query_choice(request, "status", STATUSES)
    spider = query_text(request, "spider")
    limit = query_int(request, "limit", default=DEFAULT_LIMIT, high=MAX_LIMIT)
    before = query_int(request, "before")
    rows = list_tasks(ctx.db, status=status, spider=spider, limit=limit, before_id=before)
    # Newest first: the next page is everything older than the last row shown.
    next_before = rows[-1]["id"] if len(rows) == limit else None
    return json_response({"tasks": rows, "next_before": next_before})


def detail(ctx: ApiContext, request: Request, task_id: int) -> Response:
    return json_response(get_task(ctx.db, task_id))
