"""Storage within bounds: N results over 10 simulated days, 7-day retention, day partitions vs one table.

Run from the project folder (PostgreSQL on loopback as for the tests)::

    .venv/bin/python bench/retention.py [--rows 1000000] [--days 10] [--keep 7]

For each of two PostgreSQL databases, one at migration 12 (results in day
partitions) and one before it (one results table), it stores N results through
the pipelines' writer (batches of 1,000), spread evenly over ``--days`` days, of
tasks that finished the day they ran; then runs retention with ``--keep`` days,
archiving to a temporary folder, as the daemon's 03:30 run the day after the
last. It prints, side by side: the table's size before and after, the days left
in the table and in the archive, and how long retention took (archive included,
then the delete alone).

Then, on a third database, it stores N results in one table and runs migration
12 on it, printing how long each step held a lock that stops writes (the
catalogue changes) beside the steps that read the table with writes going on;
and it exports the N results with ``scraperq results`` to /dev/null, printing the
export's peak RSS beside that of an export of a tenth of them (streamed exports
do not grow with the table).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scraperq import retention  # noqa: E402
from scraperq.archive import list_days, open_store  # noqa: E402
from scraperq.storage import Database, migrate  # noqa: E402
from scraperq.storage.migrations import MIGRATIONS  # noqa: E402
from scraperq.storage.partitions import partition_results  # noqa: E402
from scraperq.storage.results import ResultRow  # noqa: E402
from scraperq.storage.tasks import NewTask, create_tasks  # noqa: E402
from scraperq.storage.writer import BatchWriter, TaskEvent  # noqa: E402

ADMIN = os.environ.get("SCRAPERQ_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
BEFORE_12 = tuple(m for m in MIGRATIONS if m.version < 12)


def new_database() -> str:
    name = f"scraperq_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def fill(db: Database, rows: int, days: int, first_day: datetime) -> None:
    per_day = rows // days
    tasks_per_day = 100
    for day in range(days):
        start = first_day + timedelta(days=day)
        ids = create_tasks(
            db, [NewTask(spider="books", url=f"https://books.example/{day}/{n}") for n in range(tasks_per_day)]
        )
        writer = BatchWriter(db, max_batch=1000)
        for n in range(per_day):
            at = start + timedelta(seconds=n * 86000 / per_day)
            if writer.add_result(
                ResultRow(
                    ids[n % tasks_per_day], "books", "https://books.example/", {"n": n, "t": "x" * 80}, at, f"{n}"
                )
            ):
                writer.flush()
        for task in ids:
            writer.add_task_event(TaskEvent(task, "completed", 1, start + timedelta(hours=23, minutes=59)))
        writer.flush()


def table_size(db: Database) -> int:
    with db.transaction() as cur:
        row = cur.execute(
            "SELECT COALESCE(SUM(pg_total_relation_size(inhrelid)), 0) + pg_total_relation_size('results') AS n"
            " FROM pg_inherits WHERE inhparent = 'results'::regclass"
        ).fetchone()
    return int(row["n"])


def days_in_table(db: Database) -> int:
    with db.transaction() as cur:
        row = cur.execute("SELECT COUNT(DISTINCT (scraped_at AT TIME ZONE 'UTC')::date) AS n FROM results").fetchone()
    return int(row["n"])


def retention_run(partitioned: bool, args: argparse.Namespace, first_day: datetime) -> dict[str, object]:
    url = new_database()
    try:
        db = Database(url, pool_size=4)
        migrate(db, migrations=MIGRATIONS if partitioned else BEFORE_12)
        fill(db, args.rows, args.days, first_day)
        now = datetime.combine((first_day + timedelta(days=args.days)).date(), dtime(3, 30), tzinfo=UTC)
        size_before = table_size(db)
        with tempfile.TemporaryDirectory() as folder:
            store = open_store(folder)
            started = time.perf_counter()
            report = retention.apply(db, retention.retention_cutoffs(db, args.keep, now), store=store)
            took = time.perf_counter() - started
            archived = len({m["day"] for m in list_days(store)})
        figures = {
            "size before (MB)": f"{size_before / 1e6:.1f}",
            "size after (MB)": f"{table_size(db) / 1e6:.1f}",
            "days in the table": days_in_table(db),
            "days archived": archived,
            "results deleted": report.results,
            "partitions dropped": report.partitions_dropped,
            "retention with archive (s)": f"{took:.2f}",
        }
        db.close()
        return figures
    finally:
        drop_database(url)


def migration_locks(rows: int, first_day: datetime) -> dict[str, float]:
    url = new_database()
    try:
        db = Database(url)
        migrate(db, migrations=BEFORE_12)
        fill(db, rows, 10, first_day)
        report = partition_results(url)
        db.close()
        return {**{f"exclusive: {k}": v for k, v in report.exclusive_locks.items()}, **report.online}
    finally:
        drop_database(url)


def export_rss(rows: int, first_day: datetime) -> dict[int, int]:
    url = new_database()
    peaks = {}
    try:
        db = Database(url)
        migrate(db)
        for count in (rows // 10, rows):
            with db.transaction() as cur:
                cur.execute("DELETE FROM results")
            fill(db, count, 10, first_day)
            env = {**os.environ, "DATABASE_URL": url}
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            subprocess.run([str(ROOT / ".venv/bin/scraperq"), "results", "--output", "/dev/null"], env=env, check=True)
            peaks[count] = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        db.close()
    finally:
        drop_database(url)
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--keep", type=int, default=7)
    args = parser.parse_args()
    first_day = datetime.combine(datetime.now(UTC).date() - timedelta(days=args.days), dtime(0), tzinfo=UTC)
    print(f"{args.rows:,} results over {args.days} days, keeping {args.keep} (the machine may be shared)\n")
    partitioned = retention_run(True, args, first_day)
    plain = retention_run(False, args, first_day)
    print(f"{'':32}{'day partitions':>18}{'one table':>14}")
    for key in partitioned:
        print(f"{key:32}{partitioned[key]!s:>18}{plain[key]!s:>14}")
    print(f"\nMigration 12 on one table of {args.rows:,} results (seconds):")
    for step, seconds in migration_locks(args.rows, first_day).items():
        print(f"  {step:44}{seconds:8.3f}")
    print("\nscraperq results --output /dev/null, peak RSS of the process:")
    for count, kilobytes in export_rss(args.rows, first_day).items():
        print(f"  {count:>10,} results: {kilobytes / 1024:7.1f} MB")


if __name__ == "__main__":
    main()
