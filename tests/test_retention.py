"""Retention: archive before delete, day partitions dropped whole, pending and running tasks untouched,
an interrupted run resumed, a day restored; on SQLite and PostgreSQL (``db_url``), into a folder.

The same days are stored in every test: a finished task of ``books`` with results on three old days,
a running and a pending task (whose results and age must not matter), a failed ``news`` task without
results, a task that finished yesterday with an old result, and a ``slow`` spider whose schedule keeps
its rows for 30 days.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from scraperq import retention
from scraperq.archive import list_days, open_store, restore_day
from scraperq.archive.stores import ArchiveUnavailable, FolderStore
from scraperq.storage import Database, open_database
from scraperq.storage.connection import utcnow
from scraperq.storage.partitions import day_of, partition_name
from scraperq.storage.results import ResultRow
from scraperq.storage.schedules import add_schedule
from scraperq.storage.tasks import NewTask, create_tasks
from scraperq.storage.writer import BatchWriter, TaskEvent

NOW = utcnow()


def days_ago(n: float) -> object:
    return NOW - timedelta(days=n)


@dataclass
class Seeded:
    done: int
    running: int
    pending: int
    failed: int
    recent: int
    slow: int


def seed(db: Database) -> Seeded:
    ids = create_tasks(
        db,
        [
            NewTask(spider="books", url="https://books.example/done"),
            NewTask(spider="books", url="https://books.example/running"),
            NewTask(spider="books", url="https://books.example/pending"),
            NewTask(spider="news", url="https://news.example/failed"),
            NewTask(spider="books", url="https://books.example/recent"),
            NewTask(spider="slow", url="https://slow.example/done"),
        ],
    )
    tasks = Seeded(*ids)
    add_schedule(
        db, name="slow-daily", spider="slow", interval_seconds=86400, settings={"SCRAPERQ_RETENTION_DAYS": "30"}
    )
    writer = BatchWriter(db, max_batch=10_000)
    for day in (11, 10, 9):
        for n in range(3):
            writer.add_result(result(tasks.done, "books", f"done:{day}:{n}", days_ago(day)))
    writer.add_result(result(tasks.running, "books", "running:10", days_ago(10)))
    writer.add_result(result(tasks.recent, "books", "recent:9", days_ago(9)))
    writer.add_result(result(tasks.slow, "slow", "slow:9", days_ago(9)))
    for event in (
        TaskEvent(tasks.done, "completed", 1, days_ago(8.5)),
        TaskEvent(tasks.running, "running", 1, days_ago(10)),
        TaskEvent(tasks.failed, "failed", 3, days_ago(9), "HTTP 503 after 3 attempts"),
        TaskEvent(tasks.recent, "completed", 1, days_ago(1)),
        TaskEvent(tasks.slow, "completed", 1, days_ago(8.5)),
    ):
        writer.add_task_event(event)
    writer.flush()
    return tasks


def result(task_id: int, spider: str, fingerprint: str, at: object) -> ResultRow:
    return ResultRow(task_id, spider, f"https://{spider}.example/", {"fp": fingerprint}, at, fingerprint)  # type: ignore[arg-type]


def stored(db: Database) -> tuple[set[int], list[str]]:
    with db.transaction() as cur:
        tasks = {int(r["id"]) for r in cur.execute("SELECT id FROM tasks").fetchall()}
        results = sorted(r["fingerprint"] for r in cur.execute("SELECT fingerprint FROM results").fetchall())
    return tasks, results


def archived_rows(root: Path) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {"tasks": [], "results": []}
    for path in sorted(root.rglob("*.jsonl.gz")):
        for line in gzip.decompress(path.read_bytes()).splitlines():
            record = json.loads(line)
            rows[record["table"]].append(record["row"])
    return rows


@pytest.fixture
def db(db_url: str):
    database = open_database(db_url)
    yield database
    database.close()


def cutoffs(db: Database) -> retention.Cutoffs:
    return retention.retention_cutoffs(db, 7, NOW)


def test_retention_archives_then_deletes_finished_rows_and_never_pending_or_running(db: Database, tmp_path: Path):
    tasks = seed(db)
    before_tasks, before_results = stored(db)
    store = open_store((tmp_path / "archive").as_uri())

    report = retention.apply(db, cutoffs(db), store=store)

    kept_tasks, kept_results = stored(db)
    assert kept_tasks == before_tasks - {tasks.done, tasks.failed}
    assert kept_results == sorted(["running:10", "recent:9", "slow:9"])
    assert (report.tasks, report.results) == (2, 9)
    archive = archived_rows(tmp_path / "archive")
    assert sorted(r["fingerprint"] for r in archive["results"]) == sorted(set(before_results) - set(kept_results))
    assert sorted({t["id"] for t in archive["tasks"]}) == sorted([tasks.done, tasks.failed])
    manifests = list_days(store)
    assert [(m["day"], m["spider"], m["results"]) for m in manifests] == [
        (day_of(days_ago(11)).isoformat(), "books", 3),
        (day_of(days_ago(10)).isoformat(), "books", 3),
        (day_of(days_ago(9)).isoformat(), "books", 3),
        (day_of(days_ago(9)).isoformat(), "news", 0),
    ]
    if db.dialect == "postgresql":  # the day holding only rows that went is dropped whole; the others are not
        with db.transaction() as cur:
            names = {r["n"] for r in cur.execute("SELECT tablename AS n FROM pg_tables").fetchall()}
        assert partition_name(day_of(days_ago(11))) not in names
        assert partition_name(day_of(days_ago(10))) in names and report.partitions_dropped == 1
    assert retention.apply(db, cutoffs(db), store=store).results == 0  # nothing twice


class FailingAfter(FolderStore):
    """A folder that stops taking objects after so many, like a full disk."""

    def __init__(self, root: Path, puts: int) -> None:
        super().__init__(root)
        self.left = puts

    def put(self, key: str, data: bytes) -> None:
        if self.left <= 0:
            raise ArchiveUnavailable("cannot write the archive: No space left on device")
        self.left -= 1
        super().put(key, data)


def test_an_interrupted_run_deletes_nothing_unarchived_and_resumes_without_loss_or_duplicates(
    db: Database, tmp_path: Path
) -> None:
    seed(db)
    _, before_results = stored(db)
    root = tmp_path / "archive"
    # The first day's object and manifest, then the second day's object: its manifest fails.
    with pytest.raises(ArchiveUnavailable):
        retention.apply(db, cutoffs(db), store=FailingAfter(root, 3))
    _, results = stored(db)
    assert [f for f in before_results if f not in results] == [f"done:11:{n}" for n in range(3)]  # only day one

    retention.apply(db, cutoffs(db), store=FolderStore(root))

    _, results = stored(db)
    archive = archived_rows(root)
    gone = sorted(set(before_results) - set(results))
    assert sorted(r["fingerprint"] for r in archive["results"]) == gone  # each once
    assert len(archive["results"]) == len(gone) == 9


def test_restore_brings_a_day_back_once(db: Database, tmp_path: Path) -> None:
    tasks = seed(db)
    store = open_store(str(tmp_path / "archive"))
    retention.apply(db, cutoffs(db), store=store)
    day = day_of(days_ago(9))

    first = restore_day(db, store, day, "books")
    second = restore_day(db, store, day, "books")

    assert [(r.tasks, r.results) for r in first] == [(1, 3)]
    assert [(r.tasks, r.results) for r in second] == [(0, 0)]
    kept_tasks, kept_results = stored(db)
    assert tasks.done in kept_tasks and tasks.failed not in kept_tasks  # news was not asked for
    assert [f for f in kept_results if f.startswith("done:")] == [f"done:9:{n}" for n in range(3)]


def test_a_damaged_archive_is_refused(db: Database, tmp_path: Path) -> None:
    seed(db)
    store = FolderStore(tmp_path / "archive")
    retention.apply(db, cutoffs(db), store=store)
    day = day_of(days_ago(11))
    data = tmp_path / "archive" / day.isoformat() / "books.jsonl.gz"
    data.write_bytes(data.read_bytes()[:-9] + b"\0" * 9)  # the gzip trailer (CRC, length) no longer matches
    before = stored(db)

    with pytest.raises(ArchiveUnavailable, match="does not match its checksum"):
        restore_day(db, store, day)
    assert stored(db) == before


def test_retention_zero_keeps_everything(db: Database, tmp_path: Path) -> None:
    seed(db)
    before = stored(db)
    report = retention.apply(db, retention.retention_cutoffs(db, 0, NOW), store=FolderStore(tmp_path))
    assert (report.tasks, report.results, stored(db)) == (0, 0, before)


def test_retention_days_on_a_schedule_keeps_its_spider_longer(tmp_path: Path) -> None:
    from tests.helpers import scraperq

    url = f"sqlite:///{tmp_path / 'r.sqlite3'}"
    added = scraperq(url, "schedule", "add", "slow", "--spider", "generic", "--every", "1d", "--retention-days", "30")
    assert added.returncode == 0, added.stderr
    refused = scraperq(url, "schedule", "edit", "slow", "--retention-days", "a month")
    assert (refused.returncode, refused.stderr.count("\n")) == (2, 1)
    assert "--retention-days 'a month' is not a whole number" in refused.stderr
    with open_database(url) as db:
        found = retention.retention_cutoffs(db, 7, NOW)
    assert found.of("generic") == retention.day_cutoff(30, NOW) and found.of("books") == retention.day_cutoff(7, NOW)
