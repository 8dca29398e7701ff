"""Versioned, idempotent schema migrations for both dialects.

Each migration has a version number and runs once; ``schema_migrations`` records
which have run. Running ``migrate`` on an older schema applies only the newer
ones. On PostgreSQL an advisory lock makes concurrent migrators (many workers
starting at once) take turns; on SQLite ``BEGIN IMMEDIATE`` does the same.

Write DDL with the placeholders below so one text serves both dialects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from scraperq.errors import StorageUnavailable
from scraperq.storage import alerts, partitions
from scraperq.storage.connection import Cursor, Database, utcnow

logger = logging.getLogger(__name__)

# An arbitrary constant that identifies scraperq's migration lock among advisory locks.
MIGRATION_LOCK_KEY = 7_311_942_001

_TYPES = {
    "postgresql": {"PK": "BIGSERIAL PRIMARY KEY", "JSON": "JSONB", "BOOL": "BOOLEAN", "BIGINT": "BIGINT"},
    "sqlite": {"PK": "INTEGER PRIMARY KEY AUTOINCREMENT", "JSON": "TEXT", "BOOL": "INTEGER", "BIGINT": "INTEGER"},
}


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
    # On PostgreSQL, before the statements: work that must not run in one transaction (it commits as
    # it goes, so that no lock is held for long). Called with the database URL; idempotent.
    postgresql_online: Callable[[str], object] | None = None


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "tasks, results, schedules, job_runs",
        (
            """
            CREATE TABLE IF NOT EXISTS tasks (
                id {PK},
                spider TEXT NOT NULL,
                url TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'running', 'completed', 'failed')),
                attempts INTEGER NOT NULL DEFAULT 0,
                error TEXT,
                priority INTEGER NOT NULL DEFAULT 0,
                created_at TIMESTAMPTZ NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL,
                started_at TIMESTAMPTZ,
                finished_at TIMESTAMPTZ,
                item_count INTEGER NOT NULL DEFAULT 0,
                source TEXT NOT NULL DEFAULT 'cli',
                meta {JSON},
                job_id TEXT
            )
            """,
            "CREATE INDEX IF NOT EXISTS tasks_status_idx ON tasks (status, id)",
            "CREATE INDEX IF NOT EXISTS tasks_spider_idx ON tasks (spider, id)",
            "CREATE INDEX IF NOT EXISTS tasks_created_idx ON tasks (created_at)",
            """
            CREATE TABLE IF NOT EXISTS results (
                id {PK},
                task_id {BIGINT} NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
                spider TEXT NOT NULL,
                url TEXT NOT NULL,
                data {JSON} NOT NULL,
                scraped_at TIMESTAMPTZ NOT NULL,
                fingerprint TEXT NOT NULL,
                job_id TEXT
            )
            """,
            # Re-delivery of a request must never store its result twice.
            "CREATE UNIQUE INDEX IF NOT EXISTS results_once_idx ON results (task_id, fingerprint)",
            "CREATE INDEX IF NOT EXISTS results_spider_idx ON results (spider, id)",
            "CREATE INDEX IF NOT EXISTS results_scraped_idx ON results (scraped_at)",
            """
            CREATE TABLE IF NOT EXISTS schedules (
                id {PK},
                name TEXT NOT NULL UNIQUE,
                spider TEXT NOT NULL,
                args {JSON} NOT NULL,
                settings {JSON} NOT NULL,
                cron TEXT,
                interval_seconds INTEGER,
                timezone TEXT NOT NULL DEFAULT 'UTC',
                enabled {BOOL} NOT NULL DEFAULT TRUE,
                created_at TIMESTAMPTZ NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL,
                CHECK ((cron IS NULL) <> (interval_seconds IS NULL)),
                CHECK (interval_seconds IS NULL OR interval_seconds > 0)
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS job_runs (
                id {PK},
                schedule_id {BIGINT} REFERENCES schedules (id) ON DELETE SET NULL,
                spider TEXT NOT NULL,
                node TEXT,
                scrapyd_job_id TEXT,
                status TEXT NOT NULL,
                fire_time TIMESTAMPTZ,
                dispatched_at TIMESTAMPTZ,
                finished_at TIMESTAMPTZ,
                error TEXT
            )
            """,
            # One dispatch per (schedule, fire time), across restarts and daemons.
            "CREATE UNIQUE INDEX IF NOT EXISTS job_runs_once_idx ON job_runs (schedule_id, fire_time)",
            "CREATE INDEX IF NOT EXISTS job_runs_status_idx ON job_runs (status, id)",
        ),
    ),
    Migration(
        2,
        "scheduler: next fire times, job run tracking and counts",
        (
            # The daemon's durable cursor: the earliest fire time not yet handled.
            "ALTER TABLE schedules ADD COLUMN next_fire_time TIMESTAMPTZ",
            "CREATE INDEX IF NOT EXISTS schedules_due_idx ON schedules (enabled, next_fire_time)",
            # 'schedule' (a fire time) or 'manual' (`scraperq schedule run`).
            "ALTER TABLE job_runs ADD COLUMN origin TEXT NOT NULL DEFAULT 'schedule'",
            "ALTER TABLE job_runs ADD COLUMN created_at TIMESTAMPTZ",
            "ALTER TABLE job_runs ADD COLUMN started_at TIMESTAMPTZ",
            "ALTER TABLE job_runs ADD COLUMN item_count INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE job_runs ADD COLUMN task_count INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE job_runs ADD COLUMN tasks_failed INTEGER NOT NULL DEFAULT 0",
            "CREATE INDEX IF NOT EXISTS job_runs_schedule_idx ON job_runs (schedule_id, id)",
            # A job's item and task counts come from its Scrapyd job id.
            "CREATE INDEX IF NOT EXISTS tasks_job_idx ON tasks (job_id)",
            "CREATE INDEX IF NOT EXISTS results_job_idx ON results (job_id)",
        ),
    ),
    Migration(
        3,
        "items refused by validation, per task",
        (
            "ALTER TABLE tasks ADD COLUMN invalid_items INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE tasks ADD COLUMN invalid_reason TEXT",
        ),
    ),
    Migration(
        4,
        "a task per Redis start payload, once",
        (
            # The token of a payload taken from <spider>:start_urls (scraperq/queue/taskrows.py):
            # a payload re-delivered after a worker died reuses the task it already created.
            "ALTER TABLE tasks ADD COLUMN queue_token TEXT",
            "CREATE UNIQUE INDEX IF NOT EXISTS tasks_queue_token_idx ON tasks (queue_token)",
        ),
    ),
    Migration(
        5,
        "cron expressions read as cron reads them",
        (
            # Cron schedules stored before this were read with APScheduler's weekday numbers
            # (0 = Monday) and both day fields ANDed; they now mean what cron means, so a next
            # fire time computed the old way may be a wrong day. The scheduler computes it again
            # from now at its next pass (nothing is owed for the upgrade itself).
            "UPDATE schedules SET next_fire_time = NULL WHERE cron IS NOT NULL",
        ),
    ),
    Migration(
        6,
        "job runs report themselves: heartbeat, end, counts; jobs started outside the scheduler",
        (
            # Written by the crawl (scraperq/jobreport.py): while it runs, and once when it ends.
            "ALTER TABLE job_runs ADD COLUMN heartbeat_at TIMESTAMPTZ",
            "ALTER TABLE job_runs ADD COLUMN host TEXT",
            "ALTER TABLE job_runs ADD COLUMN pid INTEGER",
            "ALTER TABLE job_runs ADD COLUMN pages INTEGER NOT NULL DEFAULT 0",
            # Scrapy's close reason; set only by the crawl itself, so a run it settled is never re-settled.
            "ALTER TABLE job_runs ADD COLUMN finish_reason TEXT",
            # A crawl finds its row by Scrapyd's job id (one row per job).
            "CREATE UNIQUE INDEX IF NOT EXISTS job_runs_job_idx ON job_runs (scrapyd_job_id)",
        ),
    ),
    Migration(
        7,
        "the leading scheduler's heartbeat",
        (
            # One row: which daemon leads and when it last said so (`scraperq schedule run` reads it).
            """
            CREATE TABLE IF NOT EXISTS scheduler_leader (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                holder TEXT NOT NULL,
                heartbeat_at TIMESTAMPTZ NOT NULL
            )
            """,
        ),
    ),
    Migration(
        8,
        "pages stored per spider, for only-new crawls",
        (
            # One row per (spider, canonical URL) a result was stored for (scraperq/storage/results.py):
            # an 8-byte hash of the URL, not the URL, so a row costs the same whatever the URL's length.
            """
            CREATE TABLE IF NOT EXISTS stored_pages (
                spider TEXT NOT NULL,
                url_key {BIGINT} NOT NULL,
                modified TIMESTAMPTZ,
                content_hash {BIGINT},
                stored_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (spider, url_key)
            )
            """,
        ),
    ),
    # Alerts raised by the leading scheduler and their webhook deliveries (scraperq/storage/alerts.py).
    Migration(9, "alerts, their deliveries and the alerting's state", alerts.MIGRATION_STATEMENTS),
    Migration(
        10,
        "a task's status covers its whole crawl: pages fetched and failed, followed-page errors",
        (
            # Pages of the task (its own and those it led to) fetched and parsed, and failed.
            "ALTER TABLE tasks ADD COLUMN pages_fetched INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE tasks ADD COLUMN pages_failed INTEGER NOT NULL DEFAULT 0",
            # The first few followed pages that failed: [{"url": ..., "error": ...}].
            "ALTER TABLE tasks ADD COLUMN page_errors {JSON}",
            # When the task's own page was parsed: the task completes once the pages it led to are settled.
            "ALTER TABLE tasks ADD COLUMN parsed_at TIMESTAMPTZ",
            # Times the sweeper put the task back in the queue after its work was lost.
            "ALTER TABLE tasks ADD COLUMN requeues INTEGER NOT NULL DEFAULT 0",
            # What the sweeper looks for: tasks not ended, by spider, oldest update first.
            "CREATE INDEX IF NOT EXISTS tasks_unended_idx ON tasks (spider, updated_at)"
            " WHERE status IN ('pending', 'running')",
        ),
    ),
    Migration(
        12,
        "results in day partitions (PostgreSQL); finished tasks found by their end",
        (
            # Retention looks for final tasks by when they finished (scraperq/storage/purge.py).
            "CREATE INDEX IF NOT EXISTS tasks_finished_idx ON tasks (finished_at)",
        ),
        # Day partitions of results (scraperq/storage/partitions.py); the index built concurrently.
        postgresql_online=lambda url: (
            _concurrently(url, "CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_finished_idx ON tasks (finished_at)"),
            partitions.partition_results(url, ahead=1),
        ),
    ),
)


def _concurrently(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def render(statement: str, dialect: str) -> str:
    return statement.format(**_TYPES[dialect])


def current_version(cur: Cursor) -> int:
    row = cur.execute("SELECT MAX(version) AS v FROM schema_migrations").fetchone()
    return int(row["v"]) if row and row["v"] is not None else 0


def migrate(db: Database, *, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply every migration newer than the schema; return the versions applied.

    Migrations run in one transaction, except one with online work on PostgreSQL: the ones before it
    are committed, it runs on its own, and the rest follow in a new transaction. On PostgreSQL a
    session lock makes concurrent migrators take turns for the whole run.
    """
    applied: list[int] = []
    pending = sorted(migrations, key=lambda m: m.version)
    if db.dialect != "postgresql":  # BEGIN IMMEDIATE makes SQLite migrators take turns
        while _migrate_until_online(db, pending, applied) is not None:
            pass
        return applied
    with _migration_lock(db.url):
        while True:
            online = _migrate_until_online(db, pending, applied)
            if online is None:
                break
            _run_online(db, online, applied)
    if schema_has(db, 12):
        partitions.ensure_partitions(db, ahead=1)
    return applied


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """The migration lock, held by a session of its own for the whole run.

    Taken by trying again and again rather than by waiting: a migrator waiting inside a statement
    holds a snapshot, and ``CREATE INDEX CONCURRENTLY`` in the migrator holding the lock would wait
    for that snapshot to go, for ever.
    """
    import psycopg

    with psycopg.connect(url, autocommit=True) as lock:
        deadline = time.monotonic() + 3600
        while not lock.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK_KEY,)).fetchone()[0]:
            if time.monotonic() > deadline:
                raise StorageUnavailable("another migrator has held the migration lock for an hour")
            time.sleep(0.1)
        try:
            yield
        finally:
            lock.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def _migrate_until_online(db: Database, pending: list[Migration], applied: list[int]) -> Migration | None:
    with db.transaction() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        have = current_version(cur)
        for migration in pending:
            if migration.version <= have or migration.version in applied:
                continue
            if migration.postgresql_online is not None and db.dialect == "postgresql":
                return migration
            for statement in migration.statements:
                cur.execute(render(statement, db.dialect))
            _record(cur, migration)
            applied.append(migration.version)
    return None


def _record(cur: Cursor, migration: Migration) -> None:
    cur.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
        (migration.version, migration.name, utcnow()),
    )
    logger.info("Applied migration %s: %s", migration.version, migration.name)


def _run_online(db: Database, migration: Migration, applied: list[int]) -> None:
    """The migration's online work (committing as it goes), then its statements and its record."""
    assert migration.postgresql_online is not None
    migration.postgresql_online(db.url)
    with db.transaction() as cur:
        for statement in migration.statements:
            cur.execute(render(statement, db.dialect))
        _record(cur, migration)
    applied.append(migration.version)


def schema_has(db: Database, version: int) -> bool:
    with db.transaction() as cur:
        row = cur.execute("SELECT 1 AS one FROM schema_migrations WHERE version = %s", (version,)).fetchone()
    return row is not None


def latest_version(migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    return max(m.version for m in migrations)


def schema_version(db: Database) -> int:
    """The version the database is at, without changing it (0 when never migrated)."""
    with db.transaction() as cur:
        if db.dialect == "postgresql":
            row = cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL AS present").fetchone()
        else:
            row = cur.execute(
                "SELECT COUNT(*) > 0 AS present FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
            ).fetchone()
        if not row or not row["present"]:
            return 0
        return current_version(cur)
