"""``scraperq schedule add|list|show|pause|resume|remove|run``: recurring spider jobs.

A schedule fires by cron in a time zone (``--cron '0 0 * * *' --timezone
Asia/Seoul``) or by interval (``--every 6h``), and the scheduler daemon
(``scraperq scheduler``) dispatches each run to a Scrapyd node, passing
``--arg k=v`` as spider arguments and ``--setting K=V`` as Scrapy settings.
Changes reach a running daemon at its next tick (within two seconds).

Bad input (an invalid cron expression, an unknown time zone or spider, a
duplicate name, a zero interval, no node reachable for ``run``) is one line on
stderr, exit status 2, and nothing changed.

The trigger code comes from ``scheduler/`` and is imported only when a command
needs it, so the rest of the CLI (and the egg Scrapyd runs) never loads it.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from scraperq.cli.common import (
    format_table,
    format_time,
    open_db,
    parse_duration,
    print_json,
    project_settings,
)
from scraperq.errors import BadInput, ConfigError
from scraperq.storage import jobs
from scraperq.storage import schedules as store
from scraperq.storage.connection import utcnow
from scraperq.storage.schedules import Schedule

_LIST_COLUMNS = ("name", "spider", "when", "state", "next run", "last run")
_RUN_COLUMNS = ("id", "fire time", "status", "node", "job", "items", "tasks", "error")


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
    timing = add.add_mutually_exclusive_group(required=True)
    timing.add_argument("--cron", metavar="EXPR", help="5-field cron: minute hour day month weekday")
    timing.add_argument("--every", metavar="DURATION", help="an interval such as 90s, 15m, 6h or 1d")
    add.add_argument("--timezone", metavar="TZ", help="IANA time zone of the cron expression (default UTC)")
    add.add_argument("--arg", action="append", default=[], metavar="K=V", help="spider argument (repeatable)")
    add.add_argument("--setting", action="append", default=[], metavar="K=V", help="Scrapy setting (repeatable)")
    add.add_argument("--paused", action="store_true", help="add it paused")
    add.set_defaults(handler=run_add)

    listing = commands.add_parser("list", help="list schedules", description="List schedules with their next run.")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(handler=run_list)

    for action, help_text, handler in (
        ("show", "show a schedule and its recent runs", run_show),
        ("pause", "stop firing a schedule (a running job is left alone)", run_pause),
        ("resume", "fire a paused schedule again, from now on", run_resume),
        ("remove", "delete a schedule (its run history stays)", run_remove),
        ("run", "dispatch a run now, outside the schedule", run_now),
    ):
        sub = commands.add_parser(action, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        sub.add_argument("name", metavar="NAME")
        if action == "show":
            sub.add_argument("--runs", type=int, default=10, metavar="N", help="recent runs to show (default 10)")
            sub.add_argument("--json", action="store_true", help="print a JSON object")
        sub.set_defaults(handler=handler)


# -- add ------------------------------------------------------------------------------


def run_add(args: argparse.Namespace) -> int:
    from scheduler.triggers import check_cron, first_fire_time

    store.check_name(args.name)
    spider_args = store.check_args(parse_pairs("--arg", args.arg))
    settings = store.check_settings(parse_pairs("--setting", args.setting))
    now = utcnow()
    if args.cron is not None:
        timezone = store.check_timezone(args.timezone or "UTC")
        check_cron(args.cron, timezone, now=now)
        cron, interval = " ".join(args.cron.split()), None
    else:
        if args.timezone is not None:
            raise BadInput("--timezone applies to --cron schedules; an --every interval is elapsed time")
        cron, interval, timezone = None, interval_seconds(args.every), "UTC"
    check_spider(args.spider)
    next_fire = first_fire_time(cron=cron, timezone=timezone, interval_seconds=interval, anchor=now, after=now)
    with open_db() as db:
        schedule = store.add_schedule(
            db,
            name=args.name,
            spider=args.spider,
            cron=cron,
            interval_seconds=interval,
            timezone=timezone,
            args=spider_args,
            settings=settings,
            next_fire_time=None if args.paused else next_fire,
            enabled=not args.paused,
            now=now,
        )
    state = "paused" if args.paused else f"next run {format_time(next_fire)}"
    print(f"Added schedule {schedule.name}: {schedule.spider}, {schedule.describe_timing()}; {state}")
    return 0


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


def check_spider(name: str) -> None:
    """The project must have the spider (Scrapy's spider loader, as ``scrapy list`` does)."""
    from scrapy.spiderloader import get_spider_loader

    known = get_spider_loader(project_settings()).list()
    if name not in known:
        raise BadInput(f"unknown spider {name!r}: this project has {', '.join(sorted(known)) or 'no spiders'}")


# -- list and show --------------------------------------------------------------------


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


# -- pause, resume, remove --------------------------------------------------------------


def run_pause(args: argparse.Namespace) -> int:
    with open_db() as db:
        store.set_enabled(db, args.name, False, next_fire_time=None)
    print(f"Paused schedule {args.name}")
    return 0


def run_resume(args: argparse.Namespace) -> int:
    from scheduler.triggers import fire_times_for

    now = utcnow()
    with open_db() as db:
        schedule = store.get_schedule(db, args.name)
        # From now on: fire times that passed while paused are not owed.
        next_fire = fire_times_for(schedule).next_after(now)
        store.set_enabled(db, args.name, True, next_fire_time=next_fire)
    print(f"Resumed schedule {args.name}; next run {format_time(next_fire)}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    with open_db() as db:
        store.remove_schedule(db, args.name)
    print(f"Removed schedule {args.name}")
    return 0


# -- run now ----------------------------------------------------------------------------


def run_now(args: argparse.Namespace) -> int:
    from scheduler import firing
    from scheduler.app import build_dispatcher
    from scheduler.config import SchedulerConfig
    from scheduler.tracker import JobTracker

    if not args.verbose:  # the outcome is printed below, in one line
        logging.getLogger("scheduler").setLevel(logging.CRITICAL)
    settings = project_settings()
    config = SchedulerConfig.from_settings(settings)
    with open_db() as db:
        dispatcher = build_dispatcher(config, db)
        tracker = JobTracker(db, dispatcher.client, dispatcher.pool, strays=dispatcher.strays, lost_after=1e9)
        try:
            outcome = firing.run_now(db, dispatcher, tracker, args.name, utcnow())
        except firing.NotDispatched as exc:
            raise ConfigError(str(exc)) from None
    if outcome.node is None:
        print(f"Schedule {args.name}: job {outcome.run.job_id} may have been queued; the scheduler will confirm it")
        return 1
    print(f"Schedule {args.name}: job {outcome.run.job_id} accepted by {outcome.node}")
    return 0
