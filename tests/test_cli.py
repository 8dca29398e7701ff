"""The ``scraperq`` tasks, task, results, purge and status commands.

They run in-process (``tests.helpers.scraperq``), but for a pipe into ``head``, which
needs the real executable. Databases are filled through the storage API; the main
behaviours run on both SQLite and PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scraperq.storage import open_database
from scraperq.storage.connection import utcnow
from scraperq.storage.migrations import latest_version
from scraperq.storage.results import ResultRow
from scraperq.storage.tasks import NewTask, create_tasks
from scraperq.storage.writer import BatchWriter, TaskEvent
from tests.helpers import BIN, crawl_env, run, scraperq

NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LONG_AGO = utcnow() - timedelta(days=30)


@dataclass
class Seeded:
    done: int  # completed long ago, two results
    failed: int  # failed long ago, no result
    recent: int  # completed just now, one result
    pending: int
    running: int


def seed(db_url: str) -> Seeded:
    """Tasks of two spiders in every status, with results scraped at known times."""
    with open_database(db_url) as db:
        ids = create_tasks(
            db,
            [
                NewTask(spider="books", url="https://books.example/dune", meta={"shelf": "sf"}),
                NewTask(spider="news", url="https://news.example/gone"),
                NewTask(spider="books", url="https://books.example/emma"),
                NewTask(spider="news", url="https://news.example/later"),
                NewTask(spider="books", url="https://books.example/busy"),
            ],
        )
        tasks = Seeded(*ids)
        writer = BatchWriter(db)
        writer.add_result(row(tasks.done, "books", "dune:0", NOON, title="Dune", price=9.5))
        writer.add_result(row(tasks.done, "books", "dune:1", NOON + timedelta(hours=1), title='Dune, "Messiah"\nII'))
        writer.add_result(row(tasks.recent, "books", "emma:0", NOON + timedelta(days=1), title="Emma"))
        for event in (
            TaskEvent(tasks.done, "running", 1, LONG_AGO),
            TaskEvent(tasks.done, "completed", 1, LONG_AGO),
            TaskEvent(tasks.failed, "running", 3, LONG_AGO),
            TaskEvent(tasks.failed, "failed", 3, LONG_AGO, "HTTP 503 after 3 attempts"),
            TaskEvent(tasks.recent, "completed", 1, utcnow()),
            TaskEvent(tasks.running, "running", 2, LONG_AGO),
        ):
            writer.add_task_event(event)
        writer.flush()
    return tasks


def row(task_id: int, spider: str, fingerprint: str, at: datetime, **data: Any) -> ResultRow:
    url = f"https://{spider}.example/{fingerprint.split(':')[0]}"
    return ResultRow(task_id, spider, url, data, at, fingerprint)


def ok(db_url: str, *args: str) -> str:
    proc = scraperq(db_url, *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout


def table(text: str) -> list[dict[str, str]]:
    header, *lines = text.rstrip("\n").split("\n")
    names = [n.lower() for n in re.split(r"\s{2,}", header.strip())]
    starts = [header.index(n.upper()) for n in names]
    rows = []
    for line in lines:
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None], strict=True)]
        rows.append(dict(zip(names, cells, strict=True)))
    return rows


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def task_ids(db_url: str) -> set[int]:
    return {t["id"] for t in json.loads(ok(db_url, "tasks", "--json", "--limit", "1000"))}


# -- tasks and task -----------------------------------------------------------------------


def test_tasks_prints_a_table_newest_first(db_url: str) -> None:
    tasks = seed(db_url)
    rows = table(ok(db_url, "tasks"))
    assert list(rows[0]) == ["id", "spider", "status", "attempts", "pages", "items", "url", "error"]
    assert [int(r["id"]) for r in rows] == [tasks.running, tasks.pending, tasks.recent, tasks.failed, tasks.done]
    by_id = {int(r["id"]): r for r in rows}
    assert by_id[tasks.failed] == {
        "id": str(tasks.failed),
        "spider": "news",
        "status": "failed",
        "attempts": "3",
        "pages": "0/0",
        "items": "0",
        "url": "https://news.example/gone",
        "error": "HTTP 503 after 3 attempts",
    }
    assert (by_id[tasks.done]["status"], by_id[tasks.done]["items"], by_id[tasks.done]["error"]) == (
        "completed",
        "2",
        "-",
    )
    assert (by_id[tasks.running]["status"], by_id[tasks.running]["attempts"]) == ("running", "2")


def test_tasks_filters_by_status_and_spider_and_limits(sqlite_url: str) -> None:
    tasks = seed(sqlite_url)
    assert [int(r["id"]) for r in table(ok(sqlite_url, "tasks", "--status", "failed"))] == [tasks.failed]
    books = table(ok(sqlite_url, "tasks", "--spider", "books"))
    assert [int(r["id"]) for r in books] == [tasks.running, tasks.recent, tasks.done]
    done_books = table(ok(sqlite_url, "tasks", "--spider", "books", "--status", "completed", "--limit", "1"))
    assert [int(r["id"]) for r in done_books] == [tasks.recent]
    assert table(ok(sqlite_url, "tasks", "--spider", "nobody")) == []


def test_tasks_json_has_every_field(db_url: str) -> None:
    tasks = seed(db_url)
    listed = json.loads(ok(db_url, "tasks", "--json", "--status", "completed"))
    assert [t["id"] for t in listed] == [tasks.recent, tasks.done]
    done = listed[1]
    assert set(done) >= {
        "id", "spider", "url", "status", "attempts", "error", "priority", "created_at",
        "updated_at", "started_at", "finished_at", "item_count",
    }  # fmt: skip
    assert datetime.fromisoformat(done["finished_at"]) == LONG_AGO
    assert (done["item_count"], done["meta"]) == (2, {"shelf": "sf"})


def test_task_shows_every_field(db_url: str) -> None:
    tasks = seed(db_url)
    fields = dict(re.split(r":\s+", line, maxsplit=1) for line in ok(db_url, "task", str(tasks.failed)).splitlines())
    assert fields["status"] == "failed"
    assert fields["attempts"] == "3"
    assert fields["error"] == "HTTP 503 after 3 attempts"
    assert fields["url"] == "https://news.example/gone"
    assert fields["finished_at"] == LONG_AGO.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert {"created_at", "started_at", "item_count", "priority", "spider"} <= set(fields)

    detail = json.loads(ok(db_url, "task", str(tasks.done), "--json"))
    assert (detail["id"], detail["status"], detail["item_count"], detail["error"]) == (tasks.done, "completed", 2, None)
    assert datetime.fromisoformat(detail["started_at"]) == LONG_AGO


# -- results ------------------------------------------------------------------------------


def test_results_prints_json_lines_in_order(db_url: str) -> None:
    tasks = seed(db_url)
    lines = jsonl(ok(db_url, "results"))
    assert [list(r) for r in lines] == [["id", "task_id", "job_id", "spider", "url", "scraped_at", "data"]] * 3
    assert [r["data"]["title"] for r in lines] == ["Dune", 'Dune, "Messiah"\nII', "Emma"]
    assert lines[0]["task_id"] == tasks.done
    assert lines[0]["data"] == {"title": "Dune", "price": 9.5}
    assert datetime.fromisoformat(lines[0]["scraped_at"]) == NOON
    assert lines[0]["scraped_at"].endswith("+00:00")


def test_results_filters_by_spider_task_and_since(db_url: str) -> None:
    tasks = seed(db_url)

    def titles(*args: str) -> list[str]:
        return [r["data"]["title"] for r in jsonl(ok(db_url, "results", *args))]

    assert titles("--task", str(tasks.recent)) == ["Emma"]
    assert titles("--spider", "news") == []
    assert titles("--spider", "books", "--since", "2024-05-01T12:30:00") == ['Dune, "Messiah"\nII', "Emma"]
    assert titles("--since", "2024-05-01T14:30:00+02:00") == ['Dune, "Messiah"\nII', "Emma"]
    assert titles("--since", "2024-05-02") == ["Emma"]
    assert titles("--since", "1h") == []  # everything was scraped long before the last hour


def test_results_csv_has_a_column_per_item_field(db_url: str) -> None:
    tasks = seed(db_url)
    with open_database(db_url) as db:
        writer = BatchWriter(db)
        tags = ["space", "=cmd()"]
        writer.add_result(row(tasks.recent, "books", "emma:1", NOON, title="=HYPERLINK()", tags=tags, scraped_at="b-7"))
        writer.flush()
    out = ok(db_url, "results", "--format", "csv")
    header, *_ = out.splitlines()
    # The result's own columns, then the items' fields in the order they first appear (by name within a result).
    assert header == "result_id,task_id,job_id,spider,result_url,scraped_at,price,title,data.scraped_at,tags"
    rows = list(csv.DictReader(io.StringIO(out)))  # the csv module is the reference reader
    assert [(r["title"], r["price"]) for r in rows] == [
        ("Dune", "9.5"),
        ('Dune, "Messiah"\nII', ""),
        ("Emma", ""),
        ("'=HYPERLINK()", ""),  # a spreadsheet would read it as a formula
    ]
    assert json.loads(rows[3]["tags"]) == tags  # lists and objects as JSON text
    assert rows[3]["data.scraped_at"] == "b-7"  # an item field named like a result column
    assert (rows[0]["task_id"], rows[0]["spider"], rows[0]["job_id"]) == (str(tasks.done), "books", "")
    assert rows[0]["result_url"] == "https://books.example/dune"
    assert datetime.fromisoformat(rows[0]["scraped_at"]) == NOON


def test_results_csv_puts_the_spiders_declared_fields_first(sqlite_url: str) -> None:
    with open_database(sqlite_url) as db:
        [task_id] = create_tasks(db, [NewTask(spider="feed", url="https://news.example/feed.xml")])
        writer = BatchWriter(db)
        writer.add_result(row(task_id, "feed", "f:0", NOON, title="One", url="https://news.example/1", extra=1))
        writer.flush()
    header = ok(sqlite_url, "results", "--format", "csv").splitlines()[0].split(",")
    # FeedEntry's fields as it declares them, even those no stored item has; then the others.
    assert header[6:] == [
        "url", "title", "id", "published", "updated", "author", "summary", "categories", "feed", "feed_title", "extra"
    ]  # fmt: skip


def test_results_help_documents_the_csv_columns(sqlite_url: str) -> None:
    text = " ".join(ok(sqlite_url, "results", "--help").split())
    assert "the result's columns result_id, task_id, job_id, spider, result_url, scraped_at" in text
    assert "one column per top-level field of the items" in text


def test_results_output_writes_the_file(sqlite_url: str, tmp_path: Path) -> None:
    seed(sqlite_url)
    target = tmp_path / "export" / "results.csv"
    target.parent.mkdir()
    assert ok(sqlite_url, "results", "--format", "csv", "--output", str(target)) == ""
    assert len(list(csv.DictReader(target.open(newline="")))) == 3
    assert [p.name for p in target.parent.iterdir()] == ["results.csv"]  # no temporary file left behind


def test_results_output_to_a_fifo_writes_into_it_and_leaves_it_a_fifo(sqlite_url: str, tmp_path: Path) -> None:
    # What --output /dev/null or /dev/stdout must do too: a rename over a device replaces it.
    import os
    import stat
    import threading

    seed(sqlite_url)
    fifo = tmp_path / "results.pipe"
    os.mkfifo(fifo)
    read: list[str] = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_text()))
    reader.start()
    assert ok(sqlite_url, "results", "--output", str(fifo)) == ""
    reader.join(timeout=30)
    assert len(read[0].splitlines()) == 3
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_unwritable_output_is_one_line_and_leaves_nothing(sqlite_url: str, tmp_path: Path) -> None:
    seed(sqlite_url)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file\n")
    proc = scraperq(sqlite_url, "results", "--output", str(blocker / "results.jsonl"))
    assert proc.returncode == 2
    assert proc.stderr == f"scraperq: error: cannot write {blocker / 'results.jsonl'}: Not a directory\n"
    assert blocker.read_text() == "a file\n"


def test_results_piped_into_head_stops_quietly(sqlite_url: str) -> None:
    with open_database(sqlite_url) as db:
        [task_id] = create_tasks(db, [NewTask(spider="books", url="https://books.example/")])
        writer = BatchWriter(db, max_batch=100_000)
        for n in range(5000):
            writer.add_result(row(task_id, "books", f"many:{n}", NOON, title="x" * 200))
        writer.flush()
    command = f"set -o pipefail; {BIN / 'scraperq'} results | head -n 1"
    proc = run(["bash", "-c", command], crawl_env(sqlite_url))
    assert proc.returncode == 0
    assert proc.stderr == ""
    assert json.loads(proc.stdout)["data"]["title"] == "x" * 200


# -- purge --------------------------------------------------------------------------------


def test_purge_deletes_old_finished_tasks_and_their_results_only(db_url: str) -> None:
    tasks = seed(db_url)
    out = ok(db_url, "purge", "--older-than", "7d")
    assert out.startswith("Purged 2 tasks and 2 results finished before ")
    assert task_ids(db_url) == {tasks.recent, tasks.pending, tasks.running}
    assert [r["data"]["title"] for r in jsonl(ok(db_url, "results"))] == ["Emma"]
    assert ok(db_url, "purge", "--older-than", "7d").startswith("Nothing to purge")


def test_purge_archives_to_json_lines_before_deleting(db_url: str, tmp_path: Path) -> None:
    tasks = seed(db_url)
    archive = tmp_path / "archive"
    out = ok(db_url, "purge", "--older-than", "1w", "--archive", str(archive))

    assert f"Archived 2 day files to {archive.as_uri()}" in out
    results_day = archive / NOON.date().isoformat() / "books.jsonl.gz"
    failed_day = archive / LONG_AGO.date().isoformat() / "news.jsonl.gz"
    lines = [
        json.loads(line)
        for path in (results_day, failed_day)
        for line in gzip.decompress(path.read_bytes()).splitlines()
    ]
    archived_tasks = [r["row"] for r in lines if r["table"] == "tasks"]
    assert [t["id"] for t in archived_tasks] == [tasks.done, tasks.failed]
    assert archived_tasks[1]["error"] == "HTTP 503 after 3 attempts"
    assert [(r["row"]["task_id"], r["row"]["data"]["title"]) for r in lines if r["table"] == "results"] == [
        (tasks.done, "Dune"),
        (tasks.done, 'Dune, "Messiah"\nII'),
    ]
    manifest = json.loads((archive / NOON.date().isoformat() / "books.manifest.json").read_text())
    assert (manifest["results"], manifest["tasks"]) == (2, 1)
    assert manifest["sha256"] == hashlib.sha256(results_day.read_bytes()).hexdigest()
    assert task_ids(db_url) == {tasks.recent, tasks.pending, tasks.running}

    listed = ok(db_url, "archive", "list", "--archive", str(archive))
    assert f"{NOON.date().isoformat()}  books" in listed
    restored = ok(db_url, "archive", "restore", NOON.date().isoformat(), "--archive", str(archive))
    assert restored == f"Restored {NOON.date().isoformat()} books: 1 tasks and 2 results (rows already there kept)\n"
    again = ok(db_url, "archive", "restore", NOON.date().isoformat(), "--archive", str(archive))
    assert "0 tasks and 0 results" in again
    assert len(jsonl(ok(db_url, "results"))) == 3


def test_purge_deletes_nothing_when_the_archive_cannot_be_written(db_url: str, tmp_path: Path) -> None:
    seed(db_url)
    before = ok(db_url, "tasks", "--json")
    not_a_folder = tmp_path / "archive"
    not_a_folder.write_text("a file\n")
    proc = scraperq(db_url, "purge", "--older-than", "7d", "--archive", str(not_a_folder))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"scraperq: error: cannot write the archive to {not_a_folder}: ")
    assert proc.stderr.count("\n") == 1
    assert ok(db_url, "tasks", "--json") == before
    assert len(jsonl(ok(db_url, "results"))) == 3


def test_purge_dry_run_only_counts(sqlite_url: str) -> None:
    tasks = seed(sqlite_url)
    assert ok(sqlite_url, "purge", "--older-than", "7d", "--dry-run").startswith(
        "Would purge 2 tasks and 2 results finished before "
    )
    assert tasks.done in task_ids(sqlite_url)


# -- status -------------------------------------------------------------------------------


def test_status_shows_database_schema_tasks_and_results(db_url: str) -> None:
    seed(db_url)
    shown_url = db_url
    if db_url.startswith("postgresql://"):
        # The test server trusts local connections, so a password in the URL is accepted and ignored.
        db_url = db_url.replace("postgresql://postgres@", "postgresql://postgres:hunter2@")
        shown_url = db_url.replace(":hunter2@", ":***@")
    out = ok(db_url, "status")
    assert "hunter2" not in out
    lines = dict(re.split(r":\s+", line, maxsplit=1) for line in out.splitlines())
    assert lines["database"] == shown_url
    assert lines["schema_version"] == str(latest_version())
    assert lines["tasks"] == "1 pending, 1 running, 2 completed, 1 failed"
    assert lines["results"] == "3"

    status = json.loads(ok(db_url, "status", "--json"))
    assert status["tasks"] == {"pending": 1, "running": 1, "completed": 2, "failed": 1}
    assert (status["results"], status["schema_version"]) == (3, latest_version())


def test_status_of_a_database_never_migrated_says_what_to_do(sqlite_url: str) -> None:
    out = ok(sqlite_url, "status")
    assert f"schema_version: 0 (version {latest_version()} available: run scraperq migrate)" in out
    ok(sqlite_url, "migrate")
    assert f"schema_version: {latest_version()}\n" in ok(sqlite_url, "status")


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tasks", "--status", "done"], "unknown task status 'done': use one of pending, running, completed, failed"),
        (["tasks", "--limit", "many"], "--limit 'many' is not a whole number"),
        (["tasks", "--limit", "0"], "--limit must be 1 or more"),
        (["task", "abc"], "task id 'abc' is not a whole number"),
        (["task", "-5"], "task id must not be negative"),
        (["task", "424242"], "no task with id 424242"),
        (["results", "--task", "x1"], "task id 'x1' is not a whole number"),
        (["results", "--task", "424242"], "no task with id 424242"),
        (["results", "--since", "last tuesday"], "invalid time 'last tuesday'"),
        (["purge", "--older-than", "a while"], "invalid duration 'a while'"),
        (["purge", "--older-than=-3d"], "invalid duration '-3d'"),
        (["purge", "--older-than", "1d", "--archive", "ftp://x/y"], "archive URL 'ftp://x/y' must start with file://"),
        (["archive", "list"], "no archive: set SCRAPERQ_ARCHIVE_URL or give --archive URL"),
        (["archive", "restore", "yesterday", "--archive", "/tmp"], "invalid day 'yesterday': use YYYY-MM-DD"),
        (["archive", "restore", "2001-01-01", "--archive", "/nonexistent"], "nothing archived for 2001-01-01"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(sqlite_url: str, args: list[str], message: str) -> None:
    proc = scraperq(sqlite_url, *args)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"scraperq: error: {message}")
    assert proc.stderr.count("\n") == 1
    assert proc.stdout == ""


@pytest.mark.parametrize(
    "args",
    [["results", "--format", "xml"], ["purge"], ["tasks", "--bogus"], ["task"]],
)
def test_usage_errors_are_one_line_and_exit_status_2(sqlite_url: str, args: list[str]) -> None:
    proc = scraperq(sqlite_url, *args)
    assert proc.returncode == 2
    assert re.fullmatch(r"scraperq( \w+)?: error: [^\n]+\n", proc.stderr)


@pytest.mark.parametrize("args", [["tasks"], ["task", "1"], ["results"], ["purge", "--older-than", "7d"], ["status"]])
def test_an_unreachable_database_is_one_line_and_exit_status_2(args: list[str]) -> None:
    proc = scraperq("postgresql://scraperq:topsecret@127.0.0.1:1/scraperq", *args)
    assert proc.returncode == 2
    assert proc.stderr.startswith("scraperq: error: cannot connect to database postgresql://scraperq:***@127.0.0.1:1/")
    assert proc.stderr.count("\n") == 1
    assert "topsecret" not in proc.stderr
