"""``scraperq results``: stream stored results as JSON Lines or CSV.

Rows are read a page at a time and written as they come, so an export of
millions of results runs in constant memory. ``--output F`` writes F whole or
not at all (a temporary file renamed at the end).
"""

from __future__ import annotations

import argparse
import sys

from scraperq.cli.common import open_db, output_file, parse_id, parse_when, project_settings
from scraperq.cli.progress import Timer, bar, on_terminal
from scraperq.itemfields import declared_fields_of_spiders
from scraperq.storage.export import (
    CSV_RESULT_COLUMNS,
    RESULT_FIELDS,
    ResultCsvWriter,
    csv_columns,
    result_record,
    to_json_line,
)
from scraperq.storage.results import count_results, item_fields, iter_results
from scraperq.storage.tasks import get_task

_FIELDS = ", ".join(RESULT_FIELDS)
_CSV_FIELDS = ", ".join(CSV_RESULT_COLUMNS)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "results",
        help="export stored results (JSON Lines or CSV)",
        description=(
            "Stream stored results in id order. jsonl (the default) prints one JSON object per line with"
            f" the keys {_FIELDS}; data is the scraped item. csv prints a header, the result's columns"
            f" {_CSV_FIELDS}, then one column per top-level field of the items: the fields the spider's"
            " item declares first, then the others in the order they first appear; lists and objects are"
            " JSON text, an item field named like a result column is data.NAME. Times are ISO 8601 in UTC."
        ),
    )
    parser.add_argument("--spider", metavar="S", help="only results of this spider")
    parser.add_argument("--task", metavar="ID", help="only results of this task")
    parser.add_argument(
        "--since",
        metavar="WHEN",
        help="only results scraped at or after WHEN: an ISO date/time (UTC unless it has an offset),"
        " or a duration ago such as 90m, 24h or 7d",
    )
    parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="output format (default jsonl)")
    parser.add_argument("--output", metavar="F", help="write to file F instead of standard output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    task_id = parse_id("task id", args.task) if args.task is not None else None
    since = parse_when(args.since) if args.since is not None else None
    with open_db() as db:
        if task_id is not None:
            get_task(db, task_id)  # an unknown id is an error, not an empty export
        rows = iter_results(db, spider=args.spider, task_id=task_id, since=since)
        total = count_results(db, spider=args.spider, task_id=task_id, since=since) if on_terminal() else None
        timer, done = Timer(), 0
        with output_file(args.output) as out, bar(total, "export") as progress:
            if args.format == "csv":
                spiders, fields = item_fields(db, spider=args.spider, task_id=task_id, since=since)
                declared = declared_fields_of_spiders(spiders, project_settings().get("SCRAPERQ_SOURCES_DIR"))
                writer = ResultCsvWriter(out, csv_columns(fields, declared))
                for row in rows:
                    writer.write(row)
                    done += 1
                    progress.update()
            else:
                for row in rows:
                    out.write(to_json_line(result_record(row)))
                    done += 1
                    progress.update()
            out.flush()
    if on_terminal():  # the summary goes with the progress: not into a pipe's or a log's stderr
        print(f"Exported {timer.rate(done)}", file=sys.stderr)
    return 0
