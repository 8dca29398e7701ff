"""``/api/schedules``: recurring spider jobs, as ``scraperq schedule`` manages them.

A schedule is checked here exactly as ``scraperq schedule add`` checks it (the
storage module's name, argument and setting checks, the daemon's cron and time
zone checks, the project's spider list), and stored with the storage module,
so the running daemon sees it at its next tick.

``POST /api/schedules/{name}/run`` starts a run now through the daemon's own
dispatcher: the run is claimed in ``job_runs`` (409 while the previous run is
still going), handed to the least-loaded node with fail-over, and followed by
the daemon's tracker like any other. When no node accepts it the claim is
deleted (nothing ran) and the answer is 503.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from scheduler import firing
from scheduler.api.context import ApiContext
from scheduler.api.http import ApiError, check_fields, is_int, json_response, query_int, string_map
from scheduler.triggers import check_cron, fire_times_for, first_fire_time
from scraperq.errors import BadInput
from scraperq.storage import jobs
from scraperq.storage import schedules as store
from scraperq.storage.connection import utcnow
from scraperq.storage.jobs import JobRun
from scraperq.storage.schedules import Schedule

CREATE_FIELDS = ("name", "spider", "cron", "timezone", "interval_seconds", "args", "settings", "enabled")
# What PATCH can change today; the rest of a schedule is fixed once added (remove it and add it again).
PATCH_FIELDS = ("enabled",)
DEFAULT_RUNS = 10


def schedule_json(schedule: Schedule, **extra: Any) -> dict[str, Any]:
    return dict(schedule.as_dict(), state="active" if schedule.enabled else "paused", **extra)


def run_json(run: JobRun | None, names: dict[int, str] | None = None) -> dict[str, Any] | None:
    if run is None:
        return None
    value = run.as_dict()
    if names is not None:
        value["schedule"] = names.get(run.schedule_id) if run.schedule_id is not None else None
    return value


# -- reading -------------------------------------------------------------------------------


def listing(ctx: ApiContext, request: Request) -> Response:
    found = store.list_schedules(ctx.db)
    latest = jobs.latest_runs(ctx.db)
    return json_response({"schedules": [schedule_json(s, last_run=run_json(latest.get(s.id))) for s in found]})


def detail(ctx: ApiContext, request: Request, name: str) -> Response:
    limit = query_int(request, "runs", default=DEFAULT_RUNS, low=0, high=1000)
    schedule = store.get_schedule(ctx.db, name)
    runs = jobs.recent_runs(ctx.db, schedule_id=schedule.id, limit=limit)
    return json_response(schedule_json(schedule, runs=[run_json(r) for r in runs]))


# -- writing -------------------------------------------------------------------------------


def create(ctx: ApiContext, request: Request, body: dict[str, Any]) -> Response:
    check_fields(body, CREATE_FIELDS, required=("name", "spider"))
    name, spider = _text(body, "name"), _text(body, "spider")
    cron, timezone = _optional_text(body, "cron"), _optional_text(body, "timezone")
    interval = body.get("interval_seconds")
    if interval is not None and not is_int(interval):
        raise ApiError(400, "'interval_seconds' must be a whole number")
    if (cron is None) == (interval is None):
        raise ApiError(400, "give exactly one of 'cron' and 'interval_seconds'")
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ApiError(400, "'enabled' must be true or false")
    store.check_name(name)
    args = store.check_args(string_map(body, "args"))
    settings = store.check_settings(string_map(body, "settings"))
    now = utcnow()
    if cron is not None:
        timezone = store.check_timezone(timezone or "UTC")
        check_cron(cron, timezone, now=now)
        cron = " ".join(cron.split())
    else:
        if timezone is not None:
            raise BadInput("'timezone' applies to cron schedules; an interval is elapsed time")
        if interval is not None and interval < 1:
            raise BadInput("the interval must be at least 1 second")
        timezone = "UTC"
    ctx.check_spider(spider)
    next_fire = first_fire_time(cron=cron, timezone=timezone, interval_seconds=interval, anchor=now, after=now)
    schedule = store.add_schedule(
        ctx.db,
        name=name,
        spider=spider,
        cron=cron,
        interval_seconds=interval,
        timezone=timezone,
        args=args,
        settings=settings,
        next_fire_time=next_fire if enabled else None,
        enabled=enabled,
        now=now,
    )
    return json_response(schedule_json(schedule), 201, {"Location": f"/api/schedules/{schedule.name}"})


def update(ctx: ApiContext, request: Request, name: str, body: dict[str, Any]) -> Response:
    check_fields(body, CREATE_FIELDS)
    fixed = sorted(set(body) - set(PATCH_FIELDS))
    if fixed:
        raise BadInput(
            f"{fixed[0]!r} cannot be changed on an existing schedule: delete it and add it again"
            f" (PATCH changes {', '.join(PATCH_FIELDS)})"
        )
    schedule = store.get_schedule(ctx.db, name)
    enabled = body.get("enabled", schedule.enabled)
    if not isinstance(enabled, bool):
        raise ApiError(400, "'enabled' must be true or false")
    if enabled != schedule.enabled:
        # As `scraperq schedule pause|resume`: resuming starts from now, fire times while paused are not owed.
        next_fire = fire_times_for(schedule).next_after(utcnow()) if enabled else None
        schedule = store.set_enabled(ctx.db, name, enabled, next_fire_time=next_fire)
    return json_response(schedule_json(schedule))


def delete(ctx: ApiContext, request: Request, name: str) -> Response:
    store.remove_schedule(ctx.db, name)
    return Response(status=204)


def run_now(ctx: ApiContext, request: Request, name: str) -> Response:
    try:
        outcome = firing.run_now(ctx.db, ctx.dispatcher, ctx.tracker, name, utcnow())
    except firing.NotDispatched as exc:
        raise ApiError(503, str(exc)) from None
    run = jobs.get_run(ctx.db, outcome.run.run_id)
    body = {"schedule": name, "run": run_json(run), "confirmed": outcome.node is not None}
    return json_response(body, 202, {"Location": f"/api/jobs?schedule={name}"})


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"{name!r} must be a non-empty string")
    return value


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    if body.get(name) is None:
        return None
    return _text(body, name)
