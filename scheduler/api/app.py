"""The API as a WSGI application: routing, the token check, JSON errors, access log, counters.

Each route is a plain function ``handler(ctx, request, **path_values)`` (plus
``query`` and ``body``, validated by the route's models), listed once in
:data:`ROUTES` with its path in OpenAPI form and its models;
``scheduler.api.openapi`` generates the document from that list.

Before any route runs, a path or query string with control characters and a
body with NUL, lone surrogates or deep nesting are refused (400), so nothing of
the kind reaches the database or the log.

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as NoRoute
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.wrappers import Request, Response

from scheduler.api import (
    cancel,
    dashboard,
    dead,
    docs,
    joblog,
    metrics,
    models,
    queues,
    results,
    runs,
    schedules,
    static,
    system,
    tasks,
)
from scheduler.api.context import ApiContext
from scheduler.api.http import MAX_ID, ApiError, check_request_text, error_response, read_json_object
from scheduler.api.models import Query, validate_body, validate_query
from scheduler.api.models import Request as BodyModel
from scheduler.service import FieldError
from scraperq.errors import BadInput, ConfigError, Conflict, NotFound, ScraperqError, StorageUnavailable
from scraperq.redact import log_safe

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("scheduler.api.access")


@dataclass(frozen=True)
class Answer:
    """A documented answer: a JSON body described by ``model``, or other ``media`` types (as text)."""

    description: str
    model: type[BaseModel] | None = None
    media: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Route:
    """One operation: its path (OpenAPI form: ``/api/tasks/{task_id}``), what it takes and what it answers.

    A route is added by listing it in :data:`ROUTES`; ``/openapi.json`` describes it from these fields:
    ``query`` and ``body`` are the models (:mod:`scheduler.api.models`) that validate the request
    before the handler runs, and the handler gets their instances as ``query=`` and ``body=``;
    ``answers`` are the successes, ``errors`` the error codes particular to it (with what they mean
    here, or "" for the usual meaning). 400, 401 (unless ``public``), 503, and 413/415 for a body,
    are documented for every route, since every route can give them.
    """

    path: str
    method: str
    handler: Callable[..., Response]
    summary: str = ""
    description: str = ""
    query: type[Query] | None = None
    body: type[BodyModel] | None = None
    # A JSON object the handler checks itself (a dict as ``body=``), for a route without a model.
    takes_body: bool = False
    answers: Mapping[int, Answer] = field(default_factory=dict)
    errors: Mapping[int, str] = field(default_factory=dict)
    public: bool = False  # answered without the token
    security: tuple[str, ...] = ("bearer",)

    @property
    def reads_body(self) -> bool:
        return self.body is not None or self.takes_body

    @property
    def rule(self) -> str:
        """The Werkzeug rule: ``{task_id}`` becomes ``<int(min=1, max=...):task_id>``, ``{name}`` ``<name>``."""
        return re.sub(r"\{(\w+)\}", lambda m: f"<{_CONVERTERS.get(m.group(1), '')}{m.group(1)}>", self.path)


# Probes, scrapes, the console's static files and its panels refreshed every few seconds.
_QUIET_ROUTES = frozenset({"/healthz", "/metrics", "/static/{filename}"})
# Ids are BIGINT: a larger number matches no route (404) rather than failing in the database.
_CONVERTERS = {"task_id": f"int(min=1, max={MAX_ID}):", "run_id": f"int(min=1, max={MAX_ID}):"}

_E409_NAME = "A schedule by that name exists."

ROUTES: tuple[Route, ...] = (
    Route(
        "/",
        "GET",
        dashboard.dashboard,
        "Dashboard (HTML)",
        "Tasks, nodes, schedules and recent jobs. With a token, basic auth with the token as password works too,"
        " so a browser can open it.",
        answers={200: Answer("The page.", media=("text/html",))},
        security=("bearer", "basic"),
    ),
    Route(
        "/healthz",
        "GET",
        system.healthz,
        "Liveness and database check (no token needed)",
        answers={200: Answer("The daemon and its database are up.", models.Health)},
        errors={503: "The database cannot be reached."},
        public=True,
    ),
    Route(
        "/metrics",
        "GET",
        metrics.metrics,
        "Prometheus metrics (text exposition format 0.0.4)",
        answers={
            200: Answer("Tasks, items, pages, queues, job runs, nodes, alerts, API and process.", media=("text/plain",))
        },
    ),
    Route(
        "/openapi.json",
        "GET",
        system.openapi,
        "This document",
        answers={200: Answer("The OpenAPI description.", models.Document)},
    ),
    Route(
        "/docs",
        "GET",
        docs.page,
        "Interactive documentation of this API (HTML)",
        answers={200: Answer("The page; its script and style are served from /docs/.", media=("text/html",))},
        security=("bearer", "basic"),
    ),
    Route(
        "/docs/{asset}",
        "GET",
        docs.asset,
        "A file of the documentation page (script, style, icon)",
        answers={200: Answer("The file.", media=docs.MEDIA_TYPES)},
        errors={404: "No such file."},
        security=("bearer", "basic"),
    ),
    Route(
        "/api/tasks",
        "GET",
        tasks.listing,
        "List tasks, newest first",
        query=models.TaskQuery,
        answers={200: Answer("A page of tasks.", models.TaskList)},
    ),
    Route(
        "/api/tasks",
        "POST",
        tasks.create,
        "Submit URLs as tasks",
        "Each URL becomes a pending task and is queued for the spider's workers on Redis (`<spider>:start_urls`),"
        " exactly as `scraperq enqueue` does.",
        body=models.TaskSubmission,
        answers={201: Answer("The new tasks' ids, in the order of the URLs.", models.TasksCreated)},
        errors={422: ""},
    ),
    Route(
        "/api/tasks/{task_id}",
        "GET",
        tasks.detail,
        "One task",
        answers={200: Answer("The task.", models.Task)},
        errors={404: ""},
    ),
    Route(
        "/api/results",
        "GET",
        results.export,
        "Export results (streamed)",
        "Every matching result in id order, streamed with chunked encoding. JSON Lines: one object per line with"
        " id, task_id, spider, url, scraped_at and data. CSV: those columns, with data as one JSON cell.",
        query=models.ResultQuery,
        answers={200: Answer("The results.", media=tuple(results.MEDIA_TYPES.values()))},
    ),
    Route(
        "/api/schedules",
        "GET",
        schedules.listing,
        "List schedules with their last run",
        answers={200: Answer("Every schedule, by name.", models.ScheduleList)},
    ),
    Route(
        "/api/schedules",
        "POST",
        schedules.create,
        "Add a schedule",
        body=models.NewSchedule,
        answers={201: Answer("The schedule, with its first fire time.", models.Schedule)},
        errors={409: _E409_NAME, 422: ""},
    ),
    Route(
        "/api/schedules/{name}",
        "GET",
        schedules.detail,
        "One schedule and its recent runs",
        query=models.ScheduleQuery,
        answers={200: Answer("The schedule.", models.Schedule)},
        errors={404: ""},
    ),
    Route(
        "/api/schedules/{name}",
        "PATCH",
        schedules.update,
        "Change a schedule (timing, spider, arguments, settings, paused or not)",
        body=models.ScheduleChange,
        answers={200: Answer("The schedule as it is now.", models.Schedule)},
        errors={404: "", 422: ""},
    ),
    Route(
        "/api/schedules/{name}",
        "DELETE",
        schedules.delete,
        "Remove a schedule (its run history stays)",
        answers={204: Answer("Removed.")},
        errors={404: ""},
    ),
    Route(
        "/api/schedules/{name}/run",
        "POST",
        schedules.run_now,
        "Run a schedule now",
        "Records a run request; the leading scheduler daemon dispatches it to the least-loaded Scrapyd node within"
        " two seconds, and it is followed like any run (see /api/jobs).",
        answers={202: Answer("Requested.", models.RunStarted)},
        errors={
            404: "",
            409: "The schedule's previous run is still going.",
            503: "No scheduler daemon leads (or the database is down); nothing was recorded.",
        },
    ),
    Route(
        "/api/jobs",
        "GET",
        runs.job_listing,
        "Job runs, newest first",
        query=models.JobQuery,
        answers={200: Answer("Job runs.", models.JobList)},
        errors={404: "No schedule by that name."},
    ),
    Route(
        "/api/jobs/{run_id}/cancel",
        "POST",
        cancel.cancel,
        "Cancel a job run",
        "A requested run is cancelled before dispatch; a pending or running one through Scrapyd's cancel.json on"
        " its node. The run is recorded `cancelled`; a crawl that stops then writes its own end (still"
        " `cancelled`, with finish reason `shutdown` and its final counts).",
        answers={200: Answer("The run as recorded now, and the node asked.")},
        errors={
            404: "No such job run.",
            409: "The run is over already, or is being dispatched at this moment.",
            503: "The run's node cannot be reached; nothing was changed.",
        },
    ),
    Route(
        "/api/jobs/{run_id}/log",
        "GET",
        joblog.job_log,
        "The tail of a job's Scrapyd log, and Scrapy's closing stats when it has them",
        answers={200: Answer("The log's last bytes (`?bytes=N`, default 64 KiB) and the stats.")},
        errors={404: "No such job run, or it has no Scrapyd job.", 503: "The node cannot be reached."},
    ),
    Route(
        "/api/nodes",
        "GET",
        runs.node_listing,
        "The Scrapyd nodes and their load",
        answers={200: Answer("Each node in SCRAPYD_NODES.", models.NodeList)},
    ),
    Route(
        "/api/queues",
        "GET",
        queues.listing,
        "Per-spider queue figures: start payloads, requests, delayed, held, workers, dead letters",
        answers={200: Answer("Each project spider's queue (or `redis: not set`).")},
    ),
    Route(
        "/api/dead",
        "GET",
        dead.listing,
        "Dead letters: start payloads workers refused, newest first",
        query=models.DeadQuery,
        answers={200: Answer("A page of dead letters.", models.DeadList)},
    ),
    Route(
        "/api/dead",
        "POST",
        dead.act,
        "Requeue or purge dead letters",
        "`requeue` puts the payloads back on `<spider>:start_urls` as they arrived (workers check them again);"
        " a letter that kept only part of its payload is skipped. `purge` deletes them.",
        body=models.DeadAction,
        answers={200: Answer("What was done.", models.DeadDone)},
        errors={404: "None of the ids given was found."},
    ),
    Route(
        "/static/{filename}",
        "GET",
        static.static_file,
        "The console's stylesheet and script (no token needed)",
        answers={200: Answer("The file.", media=("text/css", "text/javascript"))},
        errors={404: "No such file."},
        public=True,
    ),
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
        self.ctx.metrics.observe_request(route_name, request.method, response.status_code, elapsed)
        # Probes and scrapes come every few seconds: they would drown the log at INFO.
        quiet = route_name in _QUIET_ROUTES or (route_name == "/" and "part" in request.args)
        level = logging.DEBUG if quiet and response.status_code < 400 else logging.INFO
        # The method and path are the client's: escaped, so that no %0A in them can start a log line of its own.
        access_logger.log(
            level,
            "%s %s %d %.1fms",
            log_safe(request.method, limit=20),
            log_safe(request.path, limit=300),
            response.status_code,
            elapsed * 1000,
        )
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
            check_request_text(request)
            if route is None:
                raise _routing_error(request, values)
            if route.query is not None:
                values["query"] = validate_query(route.query, request.args)
            if route.reads_body:
                body = read_json_object(request, self.ctx.config.max_body)
                values["body"] = validate_body(route.body, body) if route.body is not None else body
            return route.handler(self.ctx, request, **values)
        except ApiError as exc:
            return error_response(exc)
        except HTTPException as exc:  # raised by Werkzeug while reading the request
            return error_response(ApiError(exc.code or 400, exc.description or exc.name))
        except ScraperqError as exc:
            status = next((code for error, code in _ERROR_STATUS if isinstance(exc, error)), 400)
            if status == 503:
                logger.warning("%s %s: %s", log_safe(request.method, limit=20), log_safe(request.path), exc)
            details = [{"field": exc.field, "error": exc.reason}] if isinstance(exc, FieldError) else None
            return error_response(ApiError(status, str(exc), details=details))
        except Exception:
            logger.exception("%s %s failed", log_safe(request.method, limit=20), log_safe(request.path))
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
