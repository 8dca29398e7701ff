"""``/api/dead``: dead letters (start payloads workers refused), listed, requeued or purged.

``GET /api/dead?spider=S&limit=N&offset=N`` lists them newest first, as ``scraperq dead list
--json`` does. ``POST /api/dead`` takes ``{"action": "requeue"|"purge", "spider"?: S, "ids"?:
[...]}``: without ``ids``, every letter (of the spider, or of all spiders). Both need
``REDIS_URL``. The work is :mod:`scraperq.queue.deadletters`, shared with the CLI.
"""

from __future__ import annotations

import re
from typing import Any

import redis
from werkzeug.wrappers import Request, Response

from scheduler.api.context import ApiContext
from scheduler.api.http import ApiError, check_fields, json_response, query_int, query_text
from scraperq.errors import NotFound, StorageUnavailable, first_line
from scraperq.queue import deadletters

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_IDS = 1000
ACTIONS = ("requeue", "purge")
ID_PATTERN = "^[0-9a-f]{12}$"
_ID = re.compile(ID_PATTERN)


def listing(ctx: ApiContext, request: Request) -> Response:
    spider = query_text(request, "spider")
    limit = query_int(request, "limit", default=DEFAULT_LIMIT, high=MAX_LIMIT)
    offset = query_int(request, "offset", default=0, low=0)
    try:
        letters = deadletters.list_letters(ctx.redis(), spider, limit=limit, offset=offset)
    except redis.RedisError as exc:
        raise StorageUnavailable(f"Redis failed: {first_line(exc)}") from None
    next_offset = offset + len(letters) if len(letters) == limit else None
    return json_response({"dead": [x.as_json() for x in letters], "next_offset": next_offset})


def act(ctx: ApiContext, request: Request, body: dict[str, Any]) -> Response:
    check_fields(body, ("action", "spider", "ids"), required=("action",))
    action = body["action"]
    if action not in ACTIONS:
        raise ApiError(400, f"'action' must be one of {', '.join(ACTIONS)}")
    spider = body.get("spider")
    if spider is not None and (not isinstance(spider, str) or not spider):
        raise ApiError(400, "'spider' must be a spider name")
    ids = body.get("ids", [])
    if not isinstance(ids, list) or len(ids) > MAX_IDS or not all(isinstance(i, str) and _ID.match(i) for i in ids):
        raise ApiError(400, f"'ids' must be an array of at most {MAX_IDS} dead letter ids (12 hex digits)")
    client = ctx.redis()
    try:
        if action == "requeue":
            moved = deadletters.requeue(
                client, spider, ids, start_urls_template=ctx.settings.get("REDIS_START_URLS_KEY")
            )
        else:
            moved = deadletters.purge(client, spider, ids)
    except redis.RedisError as exc:
        raise StorageUnavailable(f"Redis failed: {first_line(exc)}") from None
    if moved.missing and not moved.total:
        raise NotFound(f"no dead letter with id {', '.join(moved.missing)}")
    return json_response(
        {
            "action": action,
            "done": moved.total,
            "by_spider": moved.done,
            "skipped": [{"id": x.id, "spider": x.spider, "reason": why} for x, why in moved.skipped],
            "missing": moved.missing,
        }
    )
