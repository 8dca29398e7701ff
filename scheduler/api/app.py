"""The API as a WSGI application: routing, the token check, JSON errors, access log, counters.

Each route is a plain function ``handler(ctx, request, **path_values)`` (plus
``body`` for routes that take a JSON object), listed once in :data:`ROUTES`
with its path in OpenAPI form; ``scheduler.api.openapi`` describes the same
paths, and a test checks that the two agree.

The token (``SCRAPERQ_API_TOKEN``) is checked before anything else, for every
route but ``/healthz``, so a client without it learns nothing, not even which
paths exist. It is compared as SHA-256 digests with ``hmac.compare_digest``:
constant time, whatever the lengths. ``Authorization: Bearer TOKEN`` is the
API's way; basic authentication with the token as password is accepted too,
so that a browser can open the dashboard. Request headers are never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as NoRoute
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.wrappers import Request, Response

from scheduler.api import (
    cancel,
    dashboard,
    dead,
    joblog,
    metrics,
    queues,
    results,
    runs,
    schedules,
    static,
    system,
    tasks,
)
from scheduler.api.context import ApiContext
from scheduler.api.http import MAX_ID, ApiError, error_response, read_json_object
from scheduler.service import FieldError
from scraperq.errors import BadInput, ConfigError, Conflict, NotFound, ScraperqError, StorageUnavailable

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("scheduler.api.access")


@dataclass(frozen=True)
class Route:
    path: str  # OpenAPI form: /api/tasks/{task_id}
    method: str
    handler: Callable[..., Response]
    takes_body: bool = False
    public: bool = False  # answered without the token

    @property
    def rule(self) -> str:
        """The Werkzeug rule: ``{task_id}`` becomes ``<int(min=1, max=...):task_id>``, ``{name}`` ``<name>``."""
        return re.sub(r"\{(\w+)\}", lambda m: f"<{_CONVERTERS.get(m.group(1), '')}{m.group(1)}>", self.path)


# Probes, scrapes, the console's static files and its panels refreshed every few seconds.
_QUIET_ROUTES = frozenset({"/healthz", "/metrics", "/static/{filename}"})
# Ids are BIGINT: a larger number matches no route (404) rather than failing in the database.
_CONVERTERS = {"task_id": f"int(min=1, max={MAX_ID}):", "run_id": f"int(min=1, max={MAX_ID}):"}

ROUTES: tuple[Route, ...] = (
    Route("/", "GET", dashboard.dashboard),
    Route("/healthz", "GET", system.healthz, public=True),
    Route("/metrics", "GET", metrics.metrics),
    Route("/openapi.json", "GET", system.openapi),
    Route("/api/tasks", "GET", tasks.listing),
    Route("/api/tasks", "POST", tasks.create, takes_body=True),
    Route("/api/tasks/{task_id}", "GET", tasks.detail),
    Route("/api/results", "GET", results.export),
    Route("/api/schedules", "GET", schedules.listing),
    Route("/api/schedules", "POST", schedules.create, takes_body=True),
    Route("/api/schedules/{name}", "GET", schedules.detail),
    Route("/api/schedules/{name}", "PATCH", schedules.update, takes_body=True),
    Route("/api/schedules/{name}", "DELETE", schedules.delete),
    Route("/api/schedules/{name}/run", "POST", schedules.run_now),
    Route("/api/jobs", "GET", runs.job_listing),
    Route("/api/jobs/{run_id}/cancel", "POST", cancel.cancel),
    Route("/api/jobs/{run_id}/log", "GET", joblog.job_log),
    Route("/api/nodes", "GET", runs.node_listing),
    Route("/api/queues", "GET", queues.listing),
    Route("/api/dead", "GET", dead.listing),
    Route("/api/dead", "POST", dead.act, takes_body=True),
    Route("/static/{filename}", "GET", static.static_file, public=True),
)

# What a scraperq error means for an HTTP client (see scheduler.api.http for the rules).
_ERROR_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (BadInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (StorageUnavailable, 503),
    (ConfigError, 503),
)


def url_map(routes: Iterable[Route] = ROUTES) -> Map:
    return Map([Rule(r.rule, methods=[r.method], endpoint=r) for r in routes], strict_slashes=True)


class ApiApp:
    """The WSGI callable."""

    def __init__(self, ctx: ApiContext, routes: Iterable[Route] = ROUTES) -> None:
        self.ctx = ctx
        self.url_map = url_map(routes)
        token = ctx.config.token
        self._token_digest = hashlib.sha256(token.encode("utf-8")).digest() if token is not None else None

    def close(self) -> None:
        self.ctx.close()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.monotonic()
        request = Request(environ)
        route_name = "unmatched"
        try:
            route, values = self._match(request)
            if route is not None:
                route_name = route.path
            response = self._answer(request, route, values)
        except RequestRedirect as redirect:  # /api/tasks/ -> /api/tasks
            response = redirect.get_response(environ)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        elapsed = time.monotonic() - started
        self.ctx.stats.record(route_name, request.method, response.status_code, elapsed)
        # Probes and scrapes come every few seconds: they would drown the log at INFO.
        quiet = route_name in _QUIET_ROUTES or (route_name == "/" and "part" in request.args)
        level = logging.DEBUG if quiet and response.status_code < 400 else logging.INFO
        access_logger.log(level, "%s %s %d %.1fms", request.method, request.path, response.status_code, elapsed * 1000)
        return response(environ, start_response)

    # -- steps ---------------------------------------------------------------------------

    def _match(self, request: Request) -> tuple[Route | None, dict[str, Any] | HTTPException]:
        """The route and its path values, or None and the routing error (reported after the token check)."""
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            route, values = adapter.match()
        except RequestRedirect:
            if not self._authorized(request):
                return None, NoRoute()
            raise
        except HTTPException as exc:
            return None, exc
        return route, dict(values)

    def _answer(self, request: Request, route: Route | None, values: Any) -> Response:
        try:
            if not (route is not None and route.public) and not self._authorized(request):
                raise self._unauthorized(request)
            if route is None:
                raise _routing_error(request, values)
            if route.takes_body:
                values["body"] = read_json_object(request, self.ctx.config.max_body)
            return route.handler(self.ctx, request, **values)
        except ApiError as exc:
            return error_response(exc)
        except HTTPException as exc:  # raised by Werkzeug while reading the request
            return error_response(ApiError(exc.code or 400, exc.description or exc.name))
        except ScraperqError as exc:
            status = next((code for error, code in _ERROR_STATUS if isinstance(exc, error)), 400)
            if status == 503:
                logger.warning("%s %s: %s", request.method, request.path, exc)
            details = [{"field": exc.field, "error": exc.reason}] if isinstance(exc, FieldError) else None
            return error_response(ApiError(status, str(exc), details=details))
        except Exception:
            logger.exception("%s %s failed", request.method, request.path)
            return error_response(ApiError(500, "internal error; the scheduler's log has the details"))

    # -- the token -----------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        if self._token_digest is None:
            return True
        supplied = _credential(request.headers.get("Authorization", ""))
        digest = hashlib.sha256(supplied.encode("utf-8", "surrogateescape")).digest()
        return hmac.compare_digest(digest, self._token_digest)

    def _unauthorized(self, request: Request) -> ApiError:
        # Browsers prompt for basic credentials, which is how the dashboard can be opened at all.
        scheme = 'Basic realm="scraperq", charset="UTF-8"' if request.path == "/" else 'Bearer realm="scraperq"'
        has_header = "Authorization" in request.headers
        message = "wrong API token" if has_header else "missing API token: send Authorization: Bearer <token>"
        return ApiError(401, message, headers={"WWW-Authenticate": scheme})


def _credential(header: str) -> str:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            pair = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return pair.partition(":")[2]
    return ""


def _routing_error(request: Request, error: HTTPException) -> ApiError:
    if isinstance(error, MethodNotAllowed):
        allowed = sorted(error.valid_methods or ())
        named = [m for m in allowed if m != "HEAD"]  # HEAD comes with GET; no need to say it
        return ApiError(
            405,
            f"{request.method} is not allowed on {request.path}: use {', '.join(named)}",
            headers={"Allow": ", ".join(allowed)},
        )
    if isinstance(error, NoRoute):
        return ApiError(404, f"no such route: {request.path} (the routes are listed at /openapi.json)")
    return ApiError(error.code or 400, error.description or "bad request")
