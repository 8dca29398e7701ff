"""``scraperq tasks`` and ``scraperq task ID``: see what was submitted and how it went."""

from __future__ import annotations

import argparse
import json

from scraperq.cli.common import format_table, format_time, open_db, parse_id, print_json
from scraperq.errors import BadInput
from scraperq.storage.tasks import STATUSES, get_task, list_tasks

DEFAULT_LIMIT = 50
_COLUMNS = ("id", "spider", "status", "attempts", "pages", "items", "url", "error")
_MAX_WIDTHS = {"spider": 20, "url": 60, "error": 50}


def register(subparsers: argparse._SubParsersAction) -> None:
    listing = subparsers.add_parser(
        "tasks",
        help="list tasks, newest first",
        description="List tasks, newest first: id, spider, status, attempts, pages fetched/failed,"
        " items stored, URL and error.",
    )
    listing.add_argument("--status", metavar="S", help=f"only tasks in this status ({', '.join(STATUSES)})")
    listing.add_argument("--spider", metavar="S", help="only tasks of this spider")
    listing.add_argument(
        "--limit", metavar="N", default=str(DEFAULT_LIMIT), help=f"show at most N tasks (default {DEFAULT_LIMIT})"
    )
    listing.add_argument("--json", action="store_true", help="print a JSON array with every field")
    listing.set_defaults(handler=run_list)

    detail = subparsers.add_parser("task", help="show one task", description="Show every field of one task.")
    detail.add_argument("id", metavar="ID", help="the task id")
    detail.add_argument("--json", action="store_true", help="print a JSON object")
    detail.set_defaults(handler=run_show)


def run_list(args: argparse.Namespace) -> int:
    if args.status is not None and args.status not in STATUSES:
        raise BadInput(f"unknown task status {args.status!r}: use one of {', '.join(STATUSES)}")
    limit = parse_id("--limit", args.limit)
    with open_db() as db:
        rows = list_tasks(db, status=args.status, spider=args.spider, limit=limit)
    if args.json:
        print_json(rows)
        return 0
    table = [
        [r["id"], r["spider"], r["status"], r["attempts"], pages(r), r["item_count"], r["url"], r["error"]]
        for r in rows
    ]
    print(format_table(_COLUMNS, table, max_widths=_MAX_WIDTHS))
    return 0


def pages(task: dict) -> str:
    """``12/3``: pages of the task fetched and parsed / failed."""
    return f"{task.get('pages_fetched') or 0}/{task.get('pages_failed') or 0}"


def run_show(args: argparse.Namespace) -> int:
    task_id = parse_id("task id", args.id)
    with open_db() as db:
        task = get_task(db, task_id)
    if args.json:
        print_json(task)
        return 0
    for name, value in task.items():
        if name.endswith("_at"):
            shown = format_time(value)
        elif name == "meta":
            shown = json.dumps(value, ensure_ascii=False) if value else "-"
        elif name == "page_errors":
            shown = "; ".join(f"{e.get('url')}: {e.get('error')}" for e in value) if value else "-"
        else:
            shown = "-" if value is None else str(value)
        print(f"{name + ':':<13} {shown}")
    return 0
