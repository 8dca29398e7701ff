"""``/api/schedules``: recurring spider jobs, as ``scraperq schedule`` manages them.

Every change goes through :mod:`scheduler.service`, the module the CLI uses: the
same checks (spider arguments as the crawl checks them, setting types, cron and
time zone), the same refusals (422 naming the field in ``details``), nothing
stored on refusal, and the running daemon sees the change at its next tick.
``PATCH`` takes every field ``POST`` does but the name; ``args`` and ``settings``
are merged (a ``null`` value removes an entry); the schedule keeps its id and
its run history, and its next run is computed again when its timing changes.

``POST /api/schedules/{name}/run`` records a run request; the leading daemon
dispatches it within two seconds (409 while the previous run is still going,
503 when no daemon leads).
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from scheduler.api.context import ApiContext
from scheduler.api.http import ApiError, check_fields, is_int, json_response, query_int, string_map
from scheduler.service import NewSchedule, ScheduleChange
from scraperq.storage import jobs
from scraperq.storage import schedules as store
from scraperq.storage.jobs import JobRun
from scraperq.storage.schedules import Schedule

CREATE_FIELDS = ("name", "spider", "cron", "timezone", "interval_seconds", "args", "settings", "enabled")
PATCH_FIELDS = CREATE_FIELDS[1:]
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
    if (body.get("cron") is None) == (body.get("interval_seconds") is None):
        raise ApiError(400, "give exactly one of 'cron' and 'interval_seconds'")
    new = NewSchedule(
        name=_text(body, "name"),
        spider=_text(body, "spider"),
        cron=_optional_text(body, "cron"),
        timezone=_optional_text(body, "timezone"),
        interval_seconds=_optional_int(body, "interval_seconds"),
        args=string_map(body, "args"),
        settings=string_map(body, "settings"),
        enabled=_optional_bool(body, "enabled", True),
    )
    schedule = ctx.service.add(new)
    return json_response(schedule_json(schedule), 201, {"Location": f"/api/schedules/{schedule.name}"})


def update(ctx: ApiContext, request: Request, name: str, body: dict[str, Any]) -> Response:
    check_fields(body, PATCH_FIELDS)
    if body.get("cron") is not None and body.get("interval_seconds") is not None:
        raise ApiError(400, "give at most one of 'cron' and 'interval_seconds'")
    args, unset_args = _merge_patch(body, "args")
    settings, unset_settings = _merge_patch(body, "settings")
    change = ScheduleChange(
        spider=_optional_text(body, "spider"),
        cron=_optional_text(body, "cron"),
        timezone=_optional_text(body, "timezone"),
        interval_seconds=_optional_int(body, "interval_seconds"),
        args=args,
        unset_args=unset_args,
        settings=settings,
        unset_settings=unset_settings,
        enabled=_optional_bool(body, "enabled", None),
    )
    return json_response(schedule_json(ctx.service.edit(name, change)))


def delete(ctx: ApiContext, request: Request, name: str) -> Response:
    ctx.service.remove(name)
    return Response(status=204)


def run_now(ctx: ApiContext, request: Request, name: str) -> Response:
    run = ctx.service.request_run(name)
    if ctx.wake is not None:
        ctx.wake()  # this daemon may lead: no need to wait for its next tick
    return json_response({"schedule": name, "run": run_json(run)}, 202, {"Location": f"/api/jobs?schedule={name}"})


def _merge_patch(body: dict[str, Any], name: str) -> tuple[dict[str, str], list[str]]:
    """A JSON merge patch of a string map: values to set, and the names given as null (to remove)."""
    value = body.get(name)
    if value is None:
        return {}, []
    if not isinstance(value, dict) or not all(v is None or isinstance(v, str) for v in value.values()):
        raise ApiError(400, f"{name!r} must be an object of string values (null removes an entry)")
    return {k: v for k, v in value.items() if v is not None}, [k for k, v in value.items() if v is None]


def _optional_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is not None and not is_int(value):
        raise ApiError(400, f"{name!r} must be a whole number")
    return value


def _optional_bool(body: dict[str, Any], name: str, default: bool | None) -> Any:
    value = body.get(name, default)
    if value is not None and not isinstance(value, bool):
        raise ApiError(400, f"{name!r} must be true or false")
    return value


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"{name!r} must be a non-empty string")
    return value


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    if body.get(name) is None:
        return None
    return _text(body, name)
