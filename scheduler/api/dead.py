"""``/api/dead``: dead letters (start payloads workers refused), listed, requeued or purged.

``GET /api/dead?spider=S&limit=N&offset=N`` lists them newest first, as ``scraperq dead list
--json`` does. ``POST /api/dead`` takes ``{"action": "requeue"|"purge", "spider"?: S, "ids"?:
[...]}``: without ``ids``, every letter (of the spider, or of all spiders). Both need
``REDIS_URL``. The work is :mod:`scraperq.queue.deadletters`, shared with the CLI.
"""

from __future__ import annotations

import redis
from werkzeug.wrappers import Request, Response

from scheduler.api.context import ApiContext
from scheduler.api.http import json_response
from scheduler.api.models import DEAD_ACTIONS as ACTIONS
from scheduler.api.models import DEAD_ID as ID_PATTERN
from scheduler.api.models import DEAD_MAX_IDS as MAX_IDS
from scheduler.api.models import DEAD_MAX_LIMIT as MAX_LIMIT
from scheduler.api.models import DeadAction, DeadQuery
from scraperq.errors import NotFound, StorageUnavailable, first_line
from scraperq.queue import deadletters

__all__ = ["ACTIONS", "ID_PATTERN", "MAX_IDS", "MAX_LIMIT", "act", "listing"]


def listing(ctx: ApiContext, request: Request, query: DeadQuery) -> Response:
    try:
        letters = deadletters.list_letters(ctx.redis(), query.spider, limit=query.limit, offset=query.offset)
    except redis.RedisError as exc:
        raise StorageUnavailable(f"Redis failed: {first_line(exc)}") from None
    next_offset = query.offset + len(letters) if len(letters) == query.limit else None
    return json_response({"dead": [x.as_json() for x in letters], "next_offset": next_offset})


def act(ctx: ApiContext, request: Request, body: DeadAction) -> Response:
    action, spider, ids = body.action, body.spider, body.ids
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
