"""``scraperq archive list|restore``: the days retention and purge archived, and bringing one back.

The archive is ``SCRAPERQ_ARCHIVE_URL`` (or ``--archive``): ``file:///path``, a
folder, or ``s3://bucket/prefix``. ``restore DAY`` puts the day's tasks and
results back with their own ids, after checking each object against its
manifest; rows already in the database are left as they are, so restoring twice
adds nothing the second time. A restored day older than the retention is
deleted again by the next daily run (archived again first, merged, unchanged).
"""

from __future__ import annotations

import argparse
from datetime import date

from scraperq.archive import list_days, open_store, restore_day
from scraperq.cli.common import format_table, open_db, project_settings
from scraperq.errors import BadInput


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("archive", help="list archived days or restore one")
    commands = parser.add_subparsers(dest="archive_command", metavar="COMMAND")
    commands.required = True
    listing = commands.add_parser("list", help="archived days and spiders, with their rows")
    restore = commands.add_parser("restore", help="put an archived day back into the database")
    restore.add_argument("day", metavar="DAY", help="a UTC day, YYYY-MM-DD")
    restore.add_argument("--spider", metavar="S", help="only this spider's rows of the day")
    for sub in (listing, restore):
        sub.add_argument("--archive", metavar="URL", help="the archive (default SCRAPERQ_ARCHIVE_URL)")
    listing.set_defaults(handler=run_list)
    restore.set_defaults(handler=run_restore)


def _store(args: argparse.Namespace):  # noqa: ANN202 - an ArchiveStore
    settings = project_settings()
    target = args.archive or settings.get("SCRAPERQ_ARCHIVE_URL")
    if not target:
        raise BadInput("no archive: set SCRAPERQ_ARCHIVE_URL or give --archive URL")
    return open_store(target, endpoint_url=settings.get("SCRAPERQ_ARCHIVE_ENDPOINT_URL"))


def run_list(args: argparse.Namespace) -> int:
    manifests = list_days(_store(args))
    if not manifests:
        print("No archived days")
        return 0
    rows = [[m["day"], m["spider"], str(m["tasks"]), str(m["results"]), str(m["bytes"])] for m in manifests]
    print(format_table(["DAY", "SPIDER", "TASKS", "RESULTS", "BYTES"], rows))
    return 0


def run_restore(args: argparse.Namespace) -> int:
    try:
        day = date.fromisoformat(args.day)
    except ValueError:
        raise BadInput(f"invalid day {args.day!r}: use YYYY-MM-DD") from None
    store = _store(args)
    with open_db() as db:
        restored = restore_day(db, store, day, args.spider)
    if not restored:
        raise BadInput(f"nothing archived for {day}{f' of spider {args.spider}' if args.spider else ''}")
    for r in restored:
        print(f"Restored {r.day} {r.spider}: {r.tasks} tasks and {r.results} results (rows already there kept)")
    return 0
