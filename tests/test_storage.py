"""The storage layer on SQLite and PostgreSQL: tasks, their lifecycle, results stored once, reading back.

Every test that takes ``db`` runs on both databases.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from scraperq.errors import BadInput, ConfigError, NotFound, StorageUnavailable
from scraperq.storage import Database, open_database, redact_url
from scraperq.storage.connection import utcnow
from scraperq.storage.results import ResultRow, count_results, insert_results, iter_results
from scraperq.storage.tasks import (
    NewTask,
    count_by_status,
    create_tasks,
    get_task,
    list_tasks,
    mark_completed,
    mark_failed,
    mark_running,
    reset_to_pending,
)


def new_task(db: Database, url: str = "https://example.com/", spider: str = "generic") -> int:
    [task_id] = create_tasks(db, [NewTask(spider=spider, url=url)])
    return task_id


def result(task_id: int, fingerprint: str, *, spider: str = "generic", at: datetime | None = None, **data: Any):
    return ResultRow(
        task_id=task_id,
        spider=spider,
        url=f"https://example.com/{fingerprint}",
        data=data or {"title": fingerprint},
        scraped_at=at or utcnow(),
        fingerprint=fingerprint,
    )


def store(db: Database, rows: list[ResultRow]) -> int:
    with db.transaction() as cur:
        return insert_results(cur, rows)


# -- creating tasks -------------------------------------------------------------------


def test_create_tasks_returns_ids_in_input_order_for_thousands_of_rows(db: Database) -> None:
    urls = [f"https://example.com/page/{i}" for i in range(2500)]
    ids = create_tasks(db, [NewTask(spider="generic", url=u) for u in urls])

    assert len(set(ids)) == len(urls)
    with db.transaction() as cur:
        stored = {r["id"]: r for r in cur.execute("SELECT id, url, status, attempts FROM tasks").fetchall()}
    assert [stored[i]["url"] for i in ids] == urls
    assert {(r["status"], r["attempts"]) for r in stored.values()} == {("pending", 0)}


def test_ids_match_urls_when_two_writers_create_tasks_at_once(db: Database) -> None:
    batches = {name: [f"https://{name}.example/{i}" for i in range(1200)] for name in ("a", "b")}
    ids: dict[str, list[int]] = {}
    barrier = threading.Barrier(2)

    def submit(name: str) -> None:
        barrier.wait(timeout=30)
        ids[name] = create_tasks(db, [NewTask(spider="generic", url=u) for u in batches[name]])

    threads = [threading.Thread(target=submit, args=(name,)) for name in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    with db.transaction() as cur:
        url_of = {r["id"]: r["url"] for r in cur.execute("SELECT id, url FROM tasks").fetchall()}
    for name, urls in batches.items():
        assert [url_of[i] for i in ids[name]] == urls


def test_task_keeps_spider_priority_source_and_meta(db: Database) -> None:
    [task_id] = create_tasks(
        db, [NewTask(spider="books", url="https://example.com/", priority=7, source="api", meta={"lang": "fr"})]
    )
    task = get_task(db, task_id)
    assert (task["spider"], task["priority"], task["source"], task["meta"]) == ("books", 7, "api", {"lang": "fr"})
    assert task["created_at"].tzinfo is not None


def test_unknown_task_id_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound, match="no task with id 424242"):
        get_task(db, 424242)


# -- status transitions ---------------------------------------------------------------


def test_task_goes_pending_running_completed(db: Database) -> None:
    task_id = new_task(db)
    started = utcnow()
    with db.transaction() as cur:
        mark_running(cur, task_id, 1, started)
    running = get_task(db, task_id)
    assert (running["status"], running["attempts"], running["finished_at"]) == ("running", 1, None)

    with db.transaction() as cur:
        assert mark_completed(cur, task_id, 1, started + timedelta(seconds=2))
    done = get_task(db, task_id)
    assert (done["status"], done["attempts"], done["error"]) == ("completed", 1, None)
    assert done["started_at"] == started
    assert done["finished_at"] == started + timedelta(seconds=2)


def test_failed_task_records_attempts_and_error(db: Database) -> None:
    task_id = new_task(db)
    with db.transaction() as cur:
        for attempt in (1, 2, 3):
            mark_running(cur, task_id, attempt, utcnow())
        assert mark_failed(cur, task_id, 3, "HTTP 503 after 3 attempts", utcnow())
    task = get_task(db, task_id)
    assert (task["status"], task["attempts"], task["error"]) == ("failed", 3, "HTTP 503 after 3 attempts")
    assert task["finished_at"] is not None


def test_a_retry_keeps_the_time_the_task_first_started(db: Database) -> None:
    task_id = new_task(db)
    first = utcnow() - timedelta(minutes=5)
    with db.transaction() as cur:
        mark_running(cur, task_id, 1, first)
        mark_running(cur, task_id, 2, utcnow())
    task = get_task(db, task_id)
    assert (task["attempts"], task["started_at"]) == (2, first)


def test_a_completed_task_is_never_overwritten(db: Database) -> None:
    task_id = new_task(db)
    with db.transaction() as cur:
        mark_completed(cur, task_id, 1, utcnow())
    finished = get_task(db, task_id)["finished_at"]
    with db.transaction() as cur:
        assert not mark_failed(cur, task_id, 2, "timed out", utcnow())
        mark_running(cur, task_id, 2, utcnow())
        assert not mark_completed(cur, task_id, 3, utcnow())
    reset_to_pending(db, [task_id])
    task = get_task(db, task_id)
    assert (task["status"], task["attempts"], task["error"], task["finished_at"]) == ("completed", 1, None, finished)


def test_a_failed_task_is_never_overwritten(db: Database) -> None:
    task_id = new_task(db)
    with db.transaction() as cur:
        mark_failed(cur, task_id, 1, "HTTP 404", utcnow())
    with db.transaction() as cur:
        assert not mark_completed(cur, task_id, 2, utcnow())
        mark_running(cur, task_id, 2, utcnow())
    reset_to_pending(db, [task_id])
    task = get_task(db, task_id)
    assert (task["status"], task["attempts"], task["error"]) == ("failed", 1, "HTTP 404")


def test_requeued_unfinished_task_goes_back_to_pending(db: Database) -> None:
    task_id = new_task(db)
    with db.transaction() as cur:
        mark_running(cur, task_id, 1, utcnow())
    assert reset_to_pending(db, [task_id]) == 1
    assert get_task(db, task_id)["status"] == "pending"


# -- listing tasks --------------------------------------------------------------------


def test_list_tasks_filters_by_status_and_spider_newest_first(db: Database) -> None:
    a1, b1, a2 = (new_task(db, spider=s) for s in ("a", "b", "a"))
    with db.transaction() as cur:
        mark_failed(cur, a2, 1, "HTTP 404", utcnow())

    assert [t["id"] for t in list_tasks(db)] == [a2, b1, a1]
    assert [t["id"] for t in list_tasks(db, spider="a")] == [a2, a1]
    assert [t["id"] for t in list_tasks(db, status="pending")] == [b1, a1]
    assert [t["id"] for t in list_tasks(db, status="failed", spider="a")] == [a2]
    assert [t["id"] for t in list_tasks(db, limit=1)] == [a2]
    assert count_by_status(db) == {"pending": 2, "running": 0, "completed": 0, "failed": 1}


def test_list_tasks_refuses_an_unknown_status(db: Database) -> None:
    with pytest.raises(BadInput, match="unknown task status 'done'"):
        list_tasks(db, status="done")


# -- results stored once --------------------------------------------------------------


def test_a_result_is_stored_once_per_task_and_fingerprint(db: Database) -> None:
    task_id = new_task(db)
    assert store(db, [result(task_id, "fp:0")]) == 1
    assert store(db, [result(task_id, "fp:0", title="re-delivered")]) == 0

    [row] = list(iter_results(db))
    assert row["data"] == {"title": "fp:0"}
    assert get_task(db, task_id)["item_count"] == 1


def test_a_duplicate_within_one_batch_is_stored_once(db: Database) -> None:
    task_id = new_task(db)
    assert store(db, [result(task_id, "fp:0"), result(task_id, "fp:0")]) == 1
    assert count_results(db) == 1
    assert get_task(db, task_id)["item_count"] == 1


def test_item_count_counts_only_new_rows(db: Database) -> None:
    task_id = new_task(db)
    store(db, [result(task_id, "fp:0"), result(task_id, "fp:1")])
    assert store(db, [result(task_id, "fp:1"), result(task_id, "fp:2"), result(task_id, "fp:3")]) == 2
    assert get_task(db, task_id)["item_count"] == 4
    assert count_results(db, task_id=task_id) == 4


def test_the_same_fingerprint_in_another_task_is_a_new_result(db: Database) -> None:
    first, second = new_task(db), new_task(db)
    assert store(db, [result(first, "fp:0"), result(second, "fp:0")]) == 2
    assert (get_task(db, first)["item_count"], get_task(db, second)["item_count"]) == (1, 1)


def test_result_data_comes_back_as_stored(db: Database) -> None:
    task_id = new_task(db)
    data = {"title": "Crème brûlée — 東京", "tags": ["a", "b"], "price": 4.5, "stock": None, "nested": {"ok": True}}
    store(db, [ResultRow(task_id, "generic", "https://example.com/", data, utcnow(), "fp:0")])
    [row] = list(iter_results(db))
    assert row["data"] == data


# -- reading results back ---------------------------------------------------------------


def test_iter_results_pages_through_every_row_in_id_order(db: Database) -> None:
    task_id = new_task(db)
    store(db, [result(task_id, f"fp:{i}") for i in range(10)])
    rows = list(iter_results(db, page_size=3))
    assert [r["data"]["title"] for r in rows] == [f"fp:{i}" for i in range(10)]
    assert [r["id"] for r in rows] == sorted({r["id"] for r in rows})


def test_rows_added_during_an_export_do_not_repeat_or_skip_earlier_ones(db: Database) -> None:
    task_id = new_task(db)
    store(db, [result(task_id, f"fp:{i}") for i in range(6)])
    seen = []
    for row in iter_results(db, page_size=2):
        seen.append(row["data"]["title"])
        if len(seen) == 1:
            store(db, [result(task_id, "late")])
    assert seen == [f"fp:{i}" for i in range(6)] + ["late"]


def test_iter_results_filters_by_spider_and_task(db: Database) -> None:
    books, news = new_task(db, spider="books"), new_task(db, spider="news")
    other_books = new_task(db, spider="books")
    store(
        db,
        [
            result(books, "b1", spider="books"),
            result(news, "n1", spider="news"),
            result(other_books, "b2", spider="books"),
        ],
    )
    assert [r["data"]["title"] for r in iter_results(db, spider="books")] == ["b1", "b2"]
    assert [r["data"]["title"] for r in iter_results(db, task_id=news)] == ["n1"]
    assert [r["data"]["title"] for r in iter_results(db, spider="books", task_id=other_books)] == ["b2"]
    assert list(iter_results(db, spider="nobody")) == []


def test_iter_results_since_compares_instants_whatever_the_offset(db: Database) -> None:
    task_id = new_task(db)
    noon = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    store(
        db,
        [
            result(task_id, "morning", at=noon - timedelta(hours=3)),
            result(task_id, "noon", at=noon),
            result(task_id, "evening", at=noon + timedelta(hours=6)),
        ],
    )
    assert [r["data"]["title"] for r in iter_results(db, since=noon)] == ["noon", "evening"]
    # 14:00 in UTC+2 is noon UTC.
    plus_two = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert [r["data"]["title"] for r in iter_results(db, since=plus_two)] == ["noon", "evening"]
    [evening] = iter_results(db, since=noon + timedelta(minutes=1))
    assert evening["scraped_at"] == noon + timedelta(hours=6)


# -- opening ----------------------------------------------------------------------------


def test_an_unreachable_postgresql_server_is_one_readable_error() -> None:
    with pytest.raises(StorageUnavailable, match=r"cannot connect to database postgresql://app:\*\*\*@127.0.0.1:1/"):
        open_database("postgresql://app:secret@127.0.0.1:1/scraperq")


def test_a_file_that_is_not_a_sqlite_database_is_one_readable_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are my notes, not a database\n")
    with pytest.raises(StorageUnavailable, match="file is not a database"):
        open_database(f"sqlite:///{path}")
    assert path.read_text() == "these are my notes, not a database\n"


def test_an_unsupported_database_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="must start with postgresql:// or sqlite:///"):
        open_database("mysql://localhost/scraperq")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/scraperq", "postgresql://app:***@db:5432/scraperq"),
        ("postgresql://app:p%40ss@db/scraperq", "postgresql://app:***@db/scraperq"),
        (
            "postgresql://db/scraperq?sslmode=require&password=s3cret",
            "postgresql://db/scraperq?sslmode=require&password=***",
        ),
        ("postgresql://app@db/scraperq?passfile=/run/pgpass", "postgresql://app@db/scraperq?passfile=/run/pgpass"),
        ("sqlite:////var/lib/scraperq/db.sqlite3", "sqlite:////var/lib/scraperq/db.sqlite3"),
    ],
)
def test_database_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown
