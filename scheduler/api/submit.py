"""Turn submitted URLs into queued tasks, exactly as ``scraperq enqueue`` does (:mod:`scraperq.submit`).

All refused URLs are reported at once (422 with ``details``), so a client can
fix a batch in one go; nothing is queued unless every URL is accepted. Without
``REDIS_URL`` there is no queue to put them on: 503, as ``scraperq enqueue``
refuses too. The tasks are marked ``source = 'api'``.
"""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.api.context import ApiContext
from scheduler.api.http import ApiError
from scraperq.submit import RefusedUrls, checked_urls
from scraperq.submit import submit_urls as submit

# Refused URLs listed in one error answer; the message says how many there were.
MAX_DETAILS = 20


def submit_urls(ctx: ApiContext, raw: Sequence[object], *, spider: str, priority: int) -> list[int]:
    try:
        urls = checked_urls(raw, ctx.settings)  # before Redis: a bad URL is the client's to fix first
    except RefusedUrls as exc:
        details = [{"field": f"urls[{r.index}]", "error": r.error} for r in exc.refused[:MAX_DETAILS]]
        raise ApiError(422, str(exc), details=details) from None
    return submit(ctx.db, ctx.redis(), urls, ctx.settings, spider=spider, priority=priority, source="api")
