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
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from scheduler import service
from scheduler.api.context import ApiContext
from scheduler.api.http import ApiError, json_response
from scheduler.api.models import NewSchedule, ScheduleChange, ScheduleQuery
from scraperq.storage import jobs
from scraperq.storage import schedules as store
from scraperq.storage.jobs import JobRun
from scraperq.storage.schedules import Schedule


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


def detail(ctx: ApiContext, request: Request, name: str, query: ScheduleQuery) -> Response:
    schedule = store.get_schedule(ctx.db, name)
    runs = jobs.recent_runs(ctx.db, schedule_id=schedule.id, limit=query.runs)
    return json_response(schedule_json(schedule, runs=[run_json(r) for r in runs]))


# -- writing -------------------------------------------------------------------------------


def create(ctx: ApiContext, request: Request, body: NewSchedule) -> Response:
    if (body.cron is None) == (body.interval_seconds is None):
        raise ApiError(400, "give exactly one of 'cron' and 'interval_seconds'")
    new = service.NewSchedule(
        name=body.name,
        spider=body.spider,
        cron=body.cron,
        timezone=body.timezone,
        interval_seconds=body.interval_seconds,
        args=body.args or {},
        settings=body.settings or {},
        enabled=body.enabled,
    )
    schedule = ctx.service.add(new)
    return json_response(schedule_json(schedule), 201, {"Location": f"/api/schedules/{quote(schedule.name)}"})


def update(ctx: ApiContext, request: Request, name: str, body: ScheduleChange) -> Response:
    if body.cron is not None and body.interval_seconds is not None:
        raise ApiError(400, "give at most one of 'cron' and 'interval_seconds'")
    args, unset_args = _merge_patch(body.args)
    settings, unset_settings = _merge_patch(body.settings)
    change = service.ScheduleChange(
        spider=body.spider,
        cron=body.cron,
        timezone=body.timezone,
        interval_seconds=body.interval_seconds,
        args=args,
        unset_args=unset_args,
        settings=settings,
        unset_settings=unset_settings,
        enabled=body.enabled,
    )
    return json_response(schedule_json(ctx.service.edit(name, change)))


def delete(ctx: ApiContext, request: Request, name: str) -> Response:
    ctx.service.remove(name)
    return Response(status=204)


def run_now(ctx: ApiContext, request: Request, name: str) -> Response:
    run = ctx.service.request_run(name)
    if ctx.wake is not None:
        ctx.wake()  # this daemon may lead: no need to wait for its next tick
    location = f"/api/jobs?schedule={quote(name)}"
    return json_response({"schedule": name, "run": run_json(run)}, 202, {"Location": location})


def _merge_patch(value: dict[str, str | None] | None) -> tuple[dict[str, str], list[str]]:
    """A JSON merge patch of a string map: values to set, and the names given as null (to remove)."""
    value = value or {}
    return {k: v for k, v in value.items() if v is not None}, [k for k, v in value.items() if v is None]
