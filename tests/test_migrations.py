"""Schema migrations: versioned, idempotent, upgrading an older schema, safe to run concurrently.

Every test runs on SQLite and on PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import threading

import pytest

from scraperq.storage import Database, migrate
from scraperq.storage.migrations import MIGRATIONS, Migration, latest_version, schema_version
from scraperq.storage.tasks import NewTask, create_tasks, get_task

ALL_VERSIONS = sorted(m.version for m in MIGRATIONS)


def newer_migrations(*statements: str) -> tuple[Migration, ...]:
    """The project's migrations plus one that a later release would add."""
    return (*MIGRATIONS, Migration(latest_version() + 1, "a later release", statements))


@pytest.fixture
def fresh(db_url: str):
    database = Database(db_url)
    yield database
    database.close()


def test_migrate_applies_every_version_once_then_nothing(fresh: Database) -> None:
    assert schema_version(fresh) == 0
    assert migrate(fresh) == ALL_VERSIONS
    assert migrate(fresh) == []
    assert schema_version(fresh) == latest_version()


def test_older_schema_upgrades_to_a_newer_release_keeping_its_data(fresh: Database) -> None:
    migrate(fresh)
    [task_id] = create_tasks(fresh, [NewTask(spider="generic", url="https://example.com/")])
    newer = newer_migrations("ALTER TABLE tasks ADD COLUMN note TEXT")

    assert migrate(fresh, migrations=newer) == [latest_version() + 1]
    assert migrate(fresh, migrations=newer) == []
    assert schema_version(fresh) == latest_version() + 1
    with fresh.transaction() as cur:
        cur.execute("UPDATE tasks SET note = %s WHERE id = %s", ("kept", task_id))
        row = cur.execute("SELECT url, note FROM tasks WHERE id = %s", (task_id,)).fetchone()
    assert row == {"url": "https://example.com/", "note": "kept"}


def test_a_schema_several_versions_behind_gets_every_missing_version(fresh: Database) -> None:
    migrate(fresh)
    newer = (
        *MIGRATIONS,
        Migration(latest_version() + 1, "first later release", ("CREATE TABLE later_one (id INTEGER)",)),
        Migration(latest_version() + 2, "second later release", ("CREATE TABLE later_two (id INTEGER)",)),
    )
    assert migrate(fresh, migrations=newer) == [latest_version() + 1, latest_version() + 2]
    with fresh.transaction() as cur:
        cur.execute("INSERT INTO later_one (id) VALUES (1)")
        cur.execute("INSERT INTO later_two (id) VALUES (2)")


def test_a_failing_migration_leaves_the_schema_at_the_previous_version(fresh: Database) -> None:
    migrate(fresh)
    broken = newer_migrations(
        "CREATE TABLE half_done (id INTEGER)",
        "ALTER TABLE no_such_table ADD COLUMN x TEXT",
    )
    with pytest.raises(Exception, match="no_such_table"):
        migrate(fresh, migrations=broken)
    assert schema_version(fresh) == latest_version()
    # The statement before the failing one was rolled back with it.
    fixed = newer_migrations("CREATE TABLE half_done (id INTEGER)")
    assert migrate(fresh, migrations=fixed) == [latest_version() + 1]


def test_workers_starting_together_apply_each_migration_once(db_url: str) -> None:
    applied: list[list[int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start_worker() -> None:
        try:
            with Database(db_url) as database:
                barrier.wait(timeout=30)
                applied.append(migrate(database))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start_worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(v for versions in applied for v in versions) == ALL_VERSIONS


def test_opening_the_database_brings_the_schema_up_to_date(db_url: str) -> None:
    from scraperq.storage import open_database

    with open_database(db_url) as database:
        assert schema_version(database) == latest_version()
        [task_id] = create_tasks(database, [NewTask(spider="generic", url="https://example.com/")])
        assert get_task(database, task_id)["status"] == "pending"


def test_tasks_of_a_schema_before_whole_crawl_counts_get_them_at_zero(fresh: Database) -> None:
    # Migration 10: page counts, followed-page errors, when the own page was parsed, sweeper re-queues.
    migrate(fresh, migrations=tuple(m for m in MIGRATIONS if m.version < 10))
    with fresh.transaction() as cur:
        cur.execute(
            "INSERT INTO tasks (spider, url, status, attempts, priority, created_at, updated_at, source, meta)"
            " VALUES ('generic', 'https://example.com/', 'completed', 1, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP,"
            " 'cli', '{}') RETURNING id"
        )
        task_id = int(cur.fetchone()["id"])
    assert migrate(fresh)[:1] == [10]
    assert migrate(fresh) == []
    task = get_task(fresh, task_id)
    fields = ("status", "pages_fetched", "pages_failed", "page_errors", "parsed_at", "requeues")
    assert {name: task[name] for name in fields} == {
        "status": "completed",
        "pages_fetched": 0,
        "pages_failed": 0,
        "page_errors": [],
        "parsed_at": None,
        "requeues": 0,
    }
