"""BatchWriter: one transaction per batch, a failed batch kept for the next try, size and time bounds.

Every test runs on SQLite and on PostgreSQL. The outage is real: the SQLite file
is moved away (and a folder put in its place, so it cannot be recreated), and
PostgreSQL refuses connections to the database and drops the ones it has.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from scraperq.errors import StorageUnavailable
from scraperq.storage import Database
from scraperq.storage.connection import utcnow
from scraperq.storage.results import ResultRow, iter_results
from scraperq.storage.tasks import NewTask, create_tasks, get_task
from scraperq.storage.writer import BatchWriter, TaskEvent
from tests.conftest import PG_ADMIN_URL


def result(task_id: int, n: int) -> ResultRow:
    return ResultRow(task_id, "generic", f"https://example.com/{n}", {"n": n}, utcnow(), f"fp:{n}")


def event(task_id: int, status: str, attempts: int = 1, error: str | None = None) -> TaskEvent:
    return TaskEvent(task_id, status, attempts, utcnow(), error)


@contextmanager
def database_down(db_url: str) -> Iterator[None]:
    """The database cannot be used inside the block, and is back afterwards."""
    if db_url.startswith("sqlite:///"):
        path = Path(db_url[len("sqlite:///") :])
        aside = path.parent / "aside"
        aside.mkdir()
        for file in path.parent.glob(path.name + "*"):
            file.rename(aside / file.name)
        path.mkdir()  # a folder where the file was: sqlite cannot open or recreate it
        try:
            yield
        finally:
            path.rmdir()
            for file in aside.iterdir():
                file.rename(path.parent / file.name)
            shutil.rmtree(aside)
        return

    import psycopg

    name = urlsplit(db_url).path.lstrip("/")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


def test_a_failed_batch_is_kept_and_written_by_the_next_flush(db: Database, db_url: str) -> None:
    [task_id] = create_tasks(db, [NewTask(spider="generic", url="https://example.com/")])
    writer = BatchWriter(db, max_batch=100)
    for n in range(3):
        writer.add_result(result(task_id, n))
    writer.add_task_event(event(task_id, "running"))

    with database_down(db_url):
        with pytest.raises(StorageUnavailable):
            writer.flush()
        assert writer.pending() == 4
        # Work goes on during the outage; it queues behind the failed batch.
        writer.add_result(result(task_id, 3))
        writer.add_task_event(event(task_id, "completed"))

    stats = writer.flush()
    assert (stats.results_inserted, stats.tasks_completed) == (4, 1)
    assert writer.pending() == 0
    assert [r["data"]["n"] for r in iter_results(db)] == [0, 1, 2, 3]
    task = get_task(db, task_id)
    assert (task["status"], task["item_count"]) == ("completed", 4)


def test_readers_see_a_batch_whole_or_not_at_all(db: Database, db_url: str) -> None:
    [task_id] = create_tasks(db, [NewTask(spider="generic", url="https://example.com/")])
    writer = BatchWriter(db, max_batch=10_000)
    # Far more rows than one INSERT statement takes, so the batch spans many statements.
    for n in range(6000):
        writer.add_result(result(task_id, n))
    writer.add_task_event(event(task_id, "completed"))
    seen: set[tuple[int, str]] = set()
    done = threading.Event()

    def snapshot(database: Database) -> tuple[int, str]:
        # One statement, so both numbers come from the same moment on either database.
        with database.transaction() as cur:
            found = cur.execute(
                "SELECT (SELECT COUNT(*) FROM results) AS n, status FROM tasks WHERE id = %s", (task_id,)
            ).fetchone()
        assert found is not None
        return int(found["n"]), found["status"]

    def watch() -> None:
        with Database(db_url) as reader:
            while not done.is_set():
                seen.add(snapshot(reader))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        writer.flush()
    finally:
        done.set()
        watcher.join(timeout=60)
    seen.add(snapshot(db))
    assert seen <= {(0, "pending"), (6000, "completed")}
    assert (6000, "completed") in seen


def test_a_row_the_database_refuses_is_dropped_and_the_rest_of_the_batch_stored(db: Database) -> None:
    live, gone = create_tasks(
        db, [NewTask(spider="generic", url="https://example.com/"), NewTask(spider="generic", url="https://gone/")]
    )
    with db.transaction() as cur:  # purged while a crawl still held a result for it
        cur.execute("DELETE FROM tasks WHERE id = %s", (gone,))
    writer = BatchWriter(db, max_batch=1000)
    for n in range(250):
        writer.add_result(result(live, n))
    writer.add_result(result(gone, 999))
    writer.add_result(result(live, 0))  # a re-delivery, not a refusal
    writer.add_task_event(event(live, "completed"))
    writer.add_task_event(event(gone, "completed"))

    stats = writer.flush()
    assert (stats.results_inserted, stats.results_duplicate, stats.rejected, stats.tasks_completed) == (250, 1, 1, 1)
    assert writer.pending() == 0
    task = get_task(db, live)
    assert (task["status"], task["item_count"]) == ("completed", 250)
    # The next batch is not held back by the refused row.
    writer.add_result(result(live, 250))
    assert writer.flush().results_inserted == 1


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("bad_value", [float("nan"), float("inf"), "text with a NUL \x00 character"])
def test_a_value_postgresql_cannot_store_costs_only_its_own_result(db: Database, bad_value: object) -> None:
    [task_id] = create_tasks(db, [NewTask(spider="generic", url="https://example.com/")])
    writer = BatchWriter(db)
    writer.add_result(result(task_id, 0))
    writer.add_result(ResultRow(task_id, "generic", "https://example.com/bad", {"v": bad_value}, utcnow(), "fp:bad"))
    writer.add_result(result(task_id, 2))
    stats = writer.flush()
    assert (stats.results_inserted, stats.rejected) == (2, 1)
    assert [r["data"]["n"] for r in iter_results(db)] == [0, 2]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_each_flush_is_one_postgresql_transaction(db: Database) -> None:
    [task_id] = create_tasks(db, [NewTask(spider="generic", url="https://example.com/")])
    writer = BatchWriter(db, max_batch=1000)
    for batch in range(2):
        for n in range(batch * 300, batch * 300 + 300):
            writer.add_result(result(task_id, n))
        writer.flush()
    with db.transaction() as cur:
        rows = cur.execute("SELECT xmin::text AS txid, COUNT(*) AS n FROM results GROUP BY xmin::text").fetchall()
    assert sorted(r["n"] for r in rows) == [300, 300]


def test_add_says_when_the_batch_is_full(db: Database) -> None:
    [task_id] = create_tasks(db, [NewTask(spider="generic", url="https://example.com/")])
    writer = BatchWriter(db, max_batch=3)
    assert writer.add_result(result(task_id, 0)) is False
    assert writer.add_task_event(event(task_id, "running")) is False
    assert writer.add_result(result(task_id, 1)) is True
    writer.flush()
    assert writer.add_result(result(task_id, 2)) is False


def test_a_batch_is_due_once_its_oldest_entry_waited_max_delay(db: Database) -> None:
    [task_id] = create_tasks(db, [NewTask(spider="generic", url="https://example.com/")])
    patient, eager = BatchWriter(db, max_delay=3600), BatchWriter(db, max_delay=0)
    assert not eager.is_due()  # nothing buffered, nothing due
    for writer in (patient, eager):
        writer.add_result(result(task_id, 0))
    assert not patient.is_due()
    assert eager.is_due()
    eager.flush()
    assert not eager.is_due()


def test_the_first_final_status_in_a_batch_wins(db: Database) -> None:
    ok, bad = create_tasks(
        db, [NewTask(spider="generic", url="https://example.com/a"), NewTask(spider="generic", url="https://b/")]
    )
    writer = BatchWriter(db)
    for ev in (
        event(ok, "running"),
        event(ok, "completed"),
        event(ok, "failed", 2, "timed out"),
        event(bad, "running"),
        event(bad, "failed", 1, "HTTP 404"),
        event(bad, "completed"),
    ):
        writer.add_task_event(ev)
    stats = writer.flush()
    assert (stats.tasks_completed, stats.tasks_failed) == (1, 1)
    assert (get_task(db, ok)["status"], get_task(db, ok)["error"]) == ("completed", None)
    assert (get_task(db, bad)["status"], get_task(db, bad)["error"]) == ("failed", "HTTP 404")


def test_a_running_event_in_a_later_batch_does_not_reopen_a_finished_task(db: Database) -> None:
    [task_id] = create_tasks(db, [NewTask(spider="generic", url="https://example.com/")])
    writer = BatchWriter(db)
    writer.add_task_event(event(task_id, "completed"))
    writer.flush()
    writer.add_task_event(TaskEvent(task_id, "running", 2, utcnow() + timedelta(seconds=1)))
    writer.flush()
    task = get_task(db, task_id)
    assert (task["status"], task["attempts"]) == ("completed", 1)


def test_a_redelivered_result_counts_as_a_duplicate(db: Database) -> None:
    [task_id] = create_tasks(db, [NewTask(spider="generic", url="https://example.com/")])
    writer = BatchWriter(db)
    writer.add_result(result(task_id, 0))
    writer.flush()
    writer.add_result(result(task_id, 0))
    writer.add_result(result(task_id, 1))
    stats = writer.flush()
    assert (stats.results_inserted, stats.results_duplicate) == (1, 1)
    assert (writer.totals.results_inserted, writer.totals.results_duplicate) == (2, 1)
    assert get_task(db, task_id)["item_count"] == 2
