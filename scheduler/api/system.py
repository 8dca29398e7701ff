"""``GET /healthz`` (no token needed) and ``GET /openapi.json``."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from scheduler.api.context import ApiContext
from scheduler.api.http import json_response
from scheduler.api.openapi import spec
from scraperq.errors import StorageUnavailable
from scraperq.storage.migrations import schema_version


def healthz(ctx: ApiContext, request: Request) -> Response:
    """200 while the database answers, 503 when it does not: what a load balancer or systemd watchdog needs."""
    body: dict[str, Any] = {"status": "ok", "database": "ok"}
    if ctx.is_leader is not None:
        body["leader"] = ctx.is_leader()
    try:
        schema_version(ctx.db)
    except StorageUnavailable:
        body.update(status="unavailable", database="unreachable")
        return json_response(body, 503)
    return json_response(body)


def openapi(ctx: ApiContext, request: Request) -> Response:
    # Without a token, the document asks for none: what it says is what this server does.
    return json_response(spec(auth=ctx.config.token is not None))
