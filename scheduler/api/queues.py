"""``GET /api/queues``: each spider's shared Redis queue, as ``scraperq status`` counts it.

Per spider of the project (and any other spider name given as ``spider``):
start URLs waiting, requests queued, retries ``delayed`` until their backoff
ends, entries ``held`` under lease by ``workers`` live workers, and ``dead``
letters. Without ``REDIS_URL`` there is no shared queue: ``redis`` says so and
the list is empty (200, so the console can show it); Redis not answering is a 503.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import redis
from werkzeug.wrappers import Request, Response

from scheduler.api.context import ApiContext
from scheduler.api.http import json_response, query_text
from scraperq.errors import StorageUnavailable, first_line
from scraperq.queue.keys import QueueKeys
from scraperq.queue.redisqueue import RedisQueue

FIELDS = ("start_urls", "requests", "delayed", "held", "workers", "dead")


def queue_sizes(ctx: ApiContext, spiders: list[str]) -> list[dict[str, Any]]:
    """Each spider's counts, in the order given; StorageUnavailable when Redis fails part way."""
    client = ctx.redis()
    try:
        return [
            {"spider": spider, **asdict(RedisQueue(client, QueueKeys.for_spider(spider, ctx.settings)).sizes())}
            for spider in spiders
        ]
    except redis.RedisError as exc:
        raise StorageUnavailable(f"Redis failed while counting the queues: {first_line(exc)}") from None


def project_spiders(ctx: ApiContext, extra: str | None = None) -> list[str]:
    names = sorted(ctx.service.spiders())
    if extra and extra not in names:
        names.append(extra)
    return names


def listing(ctx: ApiContext, request: Request) -> Response:
    if not str(ctx.settings.get("REDIS_URL") or "").strip():
        return json_response({"redis": "not set", "queues": []})
    spider = query_text(request, "spider")
    spiders = [spider] if spider else project_spiders(ctx)
    return json_response({"redis": "ok", "queues": queue_sizes(ctx, spiders)})
