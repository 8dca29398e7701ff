"""Turn submitted URLs into queued tasks, exactly as ``scraperq enqueue`` does.

The same steps and the same functions: every URL checked with
:func:`scraperq.payloads.check_start_url` (``validate_url`` plus the addresses
``SCRAPERQ_ALLOW_PRIVATE`` blocks), then :func:`scraperq.payloads.enqueue_urls`
creates a pending task per URL and pushes its JSON payload to
``SPIDER:start_urls`` (``REDIS_START_URLS_KEY``). The tasks are marked
``source = 'api'``.

All refused URLs are reported at once (422 with ``details``), so a client can
fix a batch in one go; nothing is queued unless every URL is accepted. Without
``REDIS_URL`` there is no queue to put them on: 503, as ``scraperq enqueue``
refuses too.

Settings: ``REDIS_URL``, ``REDIS_PARAMS``, ``REDIS_START_URLS_KEY``, ``SCRAPERQ_ALLOW_PRIVATE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scheduler.api.context import ApiContext
from scheduler.api.http import ApiError
from scraperq.errors import BadInput
from scraperq.payloads import check_start_url, enqueue_urls, parse_allow_private, start_urls_key

# Refused URLs listed in one error answer; the message says how many there were.
MAX_DETAILS = 20


def checked_urls(raw: Sequence[object], settings: Any) -> list[str]:
    allow = parse_allow_private(settings.get("SCRAPERQ_ALLOW_PRIVATE", "0"))
    urls: list[str] = []
    problems: list[dict[str, str]] = []
    for index, value in enumerate(raw):
        try:
            urls.append(check_start_url(value, allow))
        except BadInput as exc:
            problems.append({"field": f"urls[{index}]", "error": str(exc)})
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ApiError(422, f"{first['field']}: {first['error']}{more}", details=problems[:MAX_DETAILS])
    return urls


def submit_urls(ctx: ApiContext, raw: Sequence[object], *, spider: str, priority: int) -> list[int]:
    urls = checked_urls(raw, ctx.settings)
    key = start_urls_key(spider, ctx.settings.get("REDIS_START_URLS_KEY"))
    return enqueue_urls(ctx.db, ctx.redis(), urls, spider=spider, priority=priority, source="api", key=key)
