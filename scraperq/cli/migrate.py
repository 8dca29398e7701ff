"""``scraperq migrate``: create or upgrade the schema (idempotent)."""

from __future__ import annotations

import argparse

from scraperq.cli.common import open_db
from scraperq.storage import migrate, redact_url
from scraperq.storage.migrations import latest_version


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("migrate", help="create or upgrade the database schema")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    with open_db(migrate_schema=False) as db:
        applied = migrate(db)
        where = redact_url(db.url)
    if applied:
        print(f"Migrated {where} to version {latest_version()} (applied {', '.join(map(str, applied))})")
    else:
        print(f"{where} is up to date at version {latest_version()}")
    return 0
