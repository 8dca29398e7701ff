"""``scraperq purge``: delete finished tasks and their results after a while.

Only ``completed`` and ``failed`` tasks that finished longer ago than
``--older-than`` go, with all their results; pending and running tasks stay.
With ``--archive DIR`` (or ``SCRAPERQ_ARCHIVE_URL``) every day's rows are first
archived there, one compressed JSON Lines file per day and spider with its
manifest, and a day is deleted only once its archive is written and read back
(the same code as the daemon's daily retention: :mod:`scraperq.retention`).
"""

from __future__ import annotations

import argparse

from scraperq import retention
from scraperq.archive import open_store
from scraperq.cli.common import format_time, open_db, parse_duration, project_settings
from scraperq.cli.progress import Timer, bar
from scraperq.storage.connection import utcnow
from scraperq.storage.purge import Cutoffs, count_purgeable


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
        help="first archive the rows in DIR (a folder, file:///path or s3://bucket/prefix; default"
        " SCRAPERQ_ARCHIVE_URL): DAY/SPIDER.jsonl.gz with a manifest; a day is deleted only once its archive"
        " is written and verified",
    )
    parser.add_argument("--dry-run", action="store_true", help="only say how much would be deleted")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    cutoff = utcnow() - parse_duration(args.older_than)
    cutoffs = Cutoffs(cutoff)
    settings = project_settings()
    target = args.archive or settings.get("SCRAPERQ_ARCHIVE_URL")
    # A bad archive URL is refused before anything is counted or deleted.
    store = open_store(target, endpoint_url=settings.get("SCRAPERQ_ARCHIVE_ENDPOINT_URL")) if target else None
    with open_db() as db:
        tasks, results = count_purgeable(db, cutoffs)
        if args.dry_run:
            print(f"Would purge {tasks} tasks and {results} results finished before {format_time(cutoff)}")
            return 0
        if not tasks:
            print(f"Nothing to purge: no task finished before {format_time(cutoff)}")
            return 0
        timer = Timer()
        with bar(results, "purge") as progress:
            report = retention.apply(db, cutoffs, store=store, progress=progress.update)
    print(
        f"Purged {report.tasks} tasks and {report.results} results finished before {format_time(cutoff)}"
        f" ({timer.rate(report.results)})"
    )
    if store is not None and report.archived:
        print(f"Archived {len(report.archived)} day files to {store.url}")
    return 0
