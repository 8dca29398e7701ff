"""Storage: the ground floor. Connections, migrations, tasks, results, schedules, job runs."""

from __future__ import annotations

import os

from scraperq.storage.connection import Database, default_database_url, redact_url, utcnow
from scraperq.storage.migrations import migrate


def database_url(settings: object | None = None) -> str:
    """DATABASE_URL from the given Scrapy settings, else the environment, else the default.

    Project settings already carry the environment's value (settings.py applies it), so
    preferring them keeps ``-s DATABASE_URL=...`` (and Scrapyd's per-job settings) above it.
    """
    url = settings.get("DATABASE_URL") if settings is not None else None  # type: ignore[attr-defined]
    return url or os.environ.get("DATABASE_URL") or default_database_url()


def open_database(url: str | None = None, *, migrate_schema: bool = True, pool_size: int = 4) -> Database:
    """Open the database and bring its schema up to date (idempotent)."""
    db = Database(url or database_url(), pool_size=pool_size)
    if migrate_schema:
        try:
            migrate(db)
        except BaseException:
            db.close()
            raise
    return db


__all__ = ["Database", "database_url", "default_database_url", "migrate", "open_database", "redact_url", "utcnow"]
