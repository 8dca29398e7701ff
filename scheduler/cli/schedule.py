"""``scraperq schedule add|edit|list|show|pause|resume|remove|run``: recurring spider jobs.

A schedule fires by cron in a time zone (``--cron '0 0 * * *' --timezone
Asia/Seoul``) or by interval (``--every 6h``), and the scheduler daemon
(``scraperq scheduler``) dispatches each run to a Scrapyd node, passing
``--arg k=v`` as spider arguments and ``--setting K=V`` as Scrapy settings.
Changes reach a running daemon at its next tick (within two seconds).

Every change goes through :mod:`scheduler.service`, as the HTTP API's do: bad
input (a cron expression, time zone, spider, spider argument or setting value
the crawl would refuse, a duplicate name) is one line on stderr, exit status 2,
and nothing changed. ``run`` needs only ``DATABASE_URL``: it records the
request, and the leading daemon dispatches it within two seconds.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from scheduler.cli import open_db, require_extras, settings
from scheduler.service import FieldError, NewSchedule, ScheduleChange, ScheduleService
from scraperq.display import format_table, format_time, print_json
from scraperq.errors import BadInput, ConfigError
from scraperq.storage import jobs
from scraperq.storage import schedules as store
from scraperq.storage.schedules import Schedule
from scraperq.times import parse_duration

require_extras()  # missing ones make `scraperq schedule` say what to install, in one line
_LIST_COLUMNS = ("name", "spider", "when", "state", "next run", "last run")
_RUN_COLUMNS = ("id", "fire time", "status", "node", "job", "pages", "items", "tasks", "error")
# How long `run` waits to say which node took the job.
RUN_WAIT_SECONDS = 10.0


_RETENTION_HELP = (
    "keep this spider's finished tasks and results N days (0: for ever) when that is longer than"
    " SCRAPERQ_RETENTION_DAYS (the same as --setting SCRAPERQ_RETENTION_DAYS=N)"
)


def _with_retention(settings: dict[str, str], days: str | None) -> dict[str, str]:
    if days is None:
        return settings
    if not days.strip().isdigit():
        raise BadInput(f"--retention-days {days!r} is not a whole number of days (0 keeps for ever)")
    return {**settings, "SCRAPERQ_RETENTION_DAYS": str(int(days))}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schedule",
        help="manage recurring spider jobs (cron or interval)",
        description="Manage recurring spider jobs, fired by `scraperq scheduler` on the Scrapyd nodes.",
    )
    commands = parser.add_subparsers(dest="schedule_command", metavar="ACTION", parser_class=type(parser))
    commands.required = True

    add = commands.add_parser("add", help="add a schedule", description="Add a schedule (cron or interval).")
    add.add_argument("name", metavar="NAME", help="a unique name: letters, digits, '.', '_', '-'")
    add.add_argument("--spider", required=True, metavar="S", help="the spider to run (see `scrapy list`)")
    _timing_options(add, required=True)
    add.add_argument("--arg", action="append", default=[], metavar="K=V", help="spider argument (repeatable)")
    add.add_argument("--setting", action="append", default=[], metavar="K=V", help="Scrapy setting (repeatable)")
    add.add_argument("--retention-days", metavar="N", help=_RETENTION_HELP)
    add.add_argument("--paused", action="store_true", help="add it paused")
    add.set_defaults(handler=run_add)

    edit = commands.add_parser(
        "edit",
        help="change a schedule (its history stays)",
        description="Change a schedule in place: what is not given stays as it is; its run history stays.",
    )
    edit.add_argument("name", metavar="NAME")
    edit.add_argument("--spider", metavar="S", help="run another spider")
    _timing_options(edit, required=False)
    edit.add_argument("--arg", action="append", default=[], metavar="K=V", help="set a spider argument")
    edit.add_argument("--unset-arg", action="append", default=[], metavar="K", help="remove a spider argument")
    edit.add_argument("--setting", action="append", default=[], metavar="K=V", help="set a Scrapy setting")
    edit.add_argument("--retention-days", metavar="N", help=_RETENTION_HELP)
    edit.add_argument("--unset-setting", action="append", default=[], metavar="K", help="remove a setting")
    state = edit.add_mutually_exclusive_group()
    state.add_argument("--pause", dest="enabled", action="store_false", default=None, help="pause it")
    state.add_argument("--resume", dest="enabled", action="store_true", help="resume it, from now on")
    edit.set_defaults(handler=run_edit)

    listing = commands.add_parser("list", help="list schedules", description="List schedules with their next run.")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(handler=run_list)

    for action, help_text, handler in (
        ("show", "show a schedule and its recent runs", run_show),
        ("pause", "stop firing a schedule (a running job is left alone)", run_pause),
        ("resume", "fire a paused schedule again, from now on", run_resume),
        ("remove", "delete a schedule (its run history stays)", run_remove),
        ("run", "run it now, outside its timing (the leading scheduler dispatches it)", run_now),
    ):
        sub = commands.add_parser(action, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        sub.add_argument("name", metavar="NAME")
        if action == "show":
            sub.add_argument("--runs", type=int, default=10, metavar="N", help="recent runs to show (default 10)")
            sub.add_argument("--json", action="store_true", help="print a JSON object")
        if action == "run":
            sub.add_argument("--no-wait", action="store_true", help="do not wait to see which node takes it")
        sub.set_defaults(handler=handler)


def _timing_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    timing = parser.add_mutually_exclusive_group(required=required)
    timing.add_argument("--cron", metavar="EXPR", help="5-field cron (minute hour day month weekday) or @daily...")
    timing.add_argument("--every", metavar="DURATION", help="an interval such as 90s, 15m, 6h or 1d")
    parser.add_argument("--timezone", metavar="TZ", help="IANA time zone of the cron expression (default UTC)")


# Field names of the service, as this command's options.
def _option(field: str) -> str:
    if field.startswith("args."):
        return f"--arg {field[5:]}"
    if field.startswith("settings."):
        return f"--setting {field[9:]}"
    return {"name": "NAME", "interval_seconds": "--every"}.get(field, f"--{field}")


def _service() -> tuple[ScheduleService, Any]:
    project = settings()
    db = open_db(project)
    return ScheduleService(db, project), db


def _refused(exc: FieldError) -> BadInput:
    return BadInput(f"{_option(exc.field)}: {exc.reason}")


# -- add and edit ---------------------------------------------------------------------------


def run_add(args: argparse.Namespace) -> int:
    new = NewSchedule(
        name=args.name,
        spider=args.spider,
        cron=args.cron,
        timezone=args.timezone,
        interval_seconds=interval_seconds(args.every) if args.every is not None else None,
        args=parse_pairs("--arg", args.arg),
        settings=_with_retention(parse_pairs("--setting", args.setting), args.retention_days),
        enabled=not args.paused,
    )
    service, db = _service()
    with db:
        try:
            schedule = service.add(new)
        except FieldError as exc:
            raise _refused(exc) from None
    print(f"Added schedule {schedule.name}: {schedule.spider}, {schedule.describe_timing()}; {_next(schedule)}")
    return 0


def run_edit(args: argparse.Namespace) -> int:
    change = ScheduleChange(
        spider=args.spider,
        cron=args.cron,
        timezone=args.timezone,
        interval_seconds=interval_seconds(args.every) if args.every is not None else None,
        args=parse_pairs("--arg", args.arg),
        unset_args=args.unset_arg,
        settings=_with_retention(parse_pairs("--setting", args.setting), args.retention_days),
        unset_settings=args.unset_setting,
        enabled=args.enabled,
    )
    service, db = _service()
    with db:
        try:
            schedule = service.edit(args.name, change)
        except FieldError as exc:
            raise _refused(exc) from None
    print(f"Changed schedule {schedule.name}: {schedule.spider}, {schedule.describe_timing()}; {_next(schedule)}")
    return 0


def _next(schedule: Schedule) -> str:
    return f"next run {format_time(schedule.next_fire_time)}" if schedule.enabled else "paused"


def parse_pairs(option: str, values: list[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"{option} {value!r}: write it as NAME=VALUE")
        pairs[key.strip()] = rest
    return pairs


def interval_seconds(text: str) -> int:
    seconds = parse_duration(text).total_seconds()
    if seconds < 1:
        raise BadInput(f"--every {text!r}: the interval must be at least 1 second")
    if seconds != int(seconds):
        raise BadInput(f"--every {text!r}: use a whole number of seconds")
    return int(seconds)


# -- list and show --------------------------------------------------------------------------


def run_list(args: argparse.Namespace) -> int:
    with open_db() as db:
        found = store.list_schedules(db)
        latest = jobs.latest_runs(db)
    if args.json:
        print_json([dict(s.as_dict(), last_run=_run_dict(latest.get(s.id))) for s in found])
        return 0
    rows = [
        [s.name, s.spider, s.describe_timing(), _state(s), format_time(s.next_fire_time), _last(latest.get(s.id))]
        for s in found
    ]
    print(format_table(_LIST_COLUMNS, rows, max_widths={"when": 40, "last run": 50}))
    return 0


def run_show(args: argparse.Namespace) -> int:
    with open_db() as db:
        schedule = store.get_schedule(db, args.name)
        runs = jobs.recent_runs(db, schedule_id=schedule.id, limit=max(0, args.runs))
    if args.json:
        print_json(dict(schedule.as_dict(), runs=[r.as_dict() for r in runs]))
        return 0
    fields: list[tuple[str, Any]] = [
        ("name", schedule.name),
        ("spider", schedule.spider),
        ("when", schedule.describe_timing()),
        ("state", _state(schedule)),
        ("next run", format_time(schedule.next_fire_time)),
        ("arguments", " ".join(f"{k}={v}" for k, v in schedule.args.items()) or "-"),
        ("settings", " ".join(f"{k}={v}" for k, v in schedule.settings.items()) or "-"),
        ("created", format_time(schedule.created_at)),
        ("updated", format_time(schedule.updated_at)),
    ]
    width = max(len(k) for k, _ in fields)
    for key, value in fields:
        print(f"{key + ':':<{width + 1}} {value}")
    if runs:
        print()
        rows = [
            [
                r.id,
                format_time(r.fire_time),
                r.status,
                r.node,
                r.scrapyd_job_id,
                r.pages,
                r.item_count,
                f"{r.task_count} ({r.tasks_failed} failed)" if r.tasks_failed else r.task_count,
                r.error,
            ]
            for r in runs
        ]
        print(format_table(_RUN_COLUMNS, rows, max_widths={"error": 60, "job": 32}))
    return 0


def _state(schedule: Schedule) -> str:
    return "active" if schedule.enabled else "paused"


def _last(run: jobs.JobRun | None) -> str:
    if run is None:
        return "-"
    return f"{run.status} {format_time(run.fire_time)}"


def _run_dict(run: jobs.JobRun | None) -> dict[str, Any] | None:
    return None if run is None else run.as_dict()


# -- pause, resume, remove -------------------------------------------------------------------


def run_pause(args: argparse.Namespace) -> int:
    service, db = _service()
    with db:
        service.pause(args.name)
    print(f"Paused schedule {args.name}")
    return 0


def run_resume(args: argparse.Namespace) -> int:
    service, db = _service()
    with db:
        schedule = service.resume(args.name)
    print(f"Resumed schedule {args.name}; next run {format_time(schedule.next_fire_time)}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    service, db = _service()
    with db:
        service.remove(args.name)
    print(f"Removed schedule {args.name}")
    return 0


# -- run now ----------------------------------------------------------------------------------


def run_now(args: argparse.Namespace) -> int:
    service, db = _service()
    with db:
        run = service.request_run(args.name)
        if args.no_wait:
            print(f"Schedule {args.name}: run {run.id} requested as job {run.scrapyd_job_id}")
            return 0
        deadline = time.monotonic() + RUN_WAIT_SECONDS
        while run.status in ("requested", "dispatching") and time.monotonic() < deadline:
            time.sleep(0.2)
            run = jobs.get_run(db, run.id)
    if run.status in ("requested", "dispatching"):
        print(f"Schedule {args.name}: run {run.id} requested as job {run.scrapyd_job_id}; not confirmed by a node yet")
        return 0
    if run.node is None:
        raise ConfigError(f"schedule {args.name!r} not run: {run.error or run.status}")
    print(f"Schedule {args.name}: job {run.scrapyd_job_id} accepted by {run.node}")
    return 0
