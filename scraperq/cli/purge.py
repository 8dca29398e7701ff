"""``scraperq purge``: delete finished tasks and their results after a while.

Only ``completed`` and ``failed`` tasks that finished longer ago than
``--older-than`` go, with all their results; pending and running tasks stay.
``--archive DIR`` first writes them to JSON Lines files in DIR and deletes
nothing unless that succeeded (see :mod:`scraperq.storage.purge`).
"""

from __future__ import annotations

import argparse

from scraperq.cli.common import format_time, open_db, parse_duration
from scraperq.storage.connection import utcnow
from scraperq.storage.purge import count_results_of_tasks, purge_finished, purgeable_task_ids


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "purge",
        help="delete finished tasks and their results older than a duration",
        description=(
            "Delete completed and failed tasks that finished more than DURATION ago, with their results."
            " Pending and running tasks are kept."
        ),
    )
    parser.add_argument("--older-than", metavar="DURATION", required=True, help="a duration such as 90m, 12h, 7d or 2w")
    parser.add_argument(
        "--archive",
        metavar="DIR",
        help="first write the tasks and results to tasks-<time>.jsonl and results-<time>.jsonl in DIR;"
        " if that fails nothing is deleted",
    )
    parser.add_argument("--dry-run", action="store_true", help="only say how much would be deleted")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    cutoff = utcnow() - parse_duration(args.older_than)
    with open_db() as db:
        if args.dry_run:
            ids = purgeable_task_ids(db, cutoff)
            results = count_results_of_tasks(db, ids)
            print(f"Would purge {len(ids)} tasks and {results} results finished before {format_time(cutoff)}")
            return 0
        report = purge_finished(db, cutoff, archive_dir=args.archive)
    if not report.tasks and not report.archive_files:
        print(f"Nothing to purge: no task finished before {format_time(cutoff)}")
        return 0
    print(f"Purged {report.tasks} tasks and {report.results} results finished before {format_time(cutoff)}")
    for path in report.archive_files:
        print(f"Archived to {path}")
    return 0
