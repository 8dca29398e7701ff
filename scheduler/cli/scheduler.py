"""``scraperq scheduler``: run the scheduler daemon in the foreground until SIGTERM or SIGINT.

It fires the schedules (``scraperq schedule``) and dispatches their jobs to the
Scrapyd nodes in ``SCRAPYD_NODES``; see ``scheduler/`` for how. Several may run
against one PostgreSQL database: one leads, the others stand by to take over.
Logs go to stderr at INFO (``-v``: DEBUG).
"""

from __future__ import annotations

import argparse
import logging

from scheduler.cli import require_extras, settings

require_extras()  # missing ones make `scraperq scheduler` say what to install, in one line


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scheduler",
        help="run the scheduler daemon (fires schedules, dispatches to Scrapyd)",
        description="Run the scheduler daemon in the foreground: fire schedules and dispatch their jobs to Scrapyd.",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from scheduler.app import run as run_daemon

    # A daemon's log is its record of what it did: INFO by default, whatever the CLI's level.
    logging.getLogger("scheduler").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    return run_daemon(settings())
