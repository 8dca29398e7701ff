"""PostgreSQL day partitions: migration 12 from an unpartitioned table with rows, and what a user of
the partitioned table relies on (one row per request, partitions ahead of need, indexed queries)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scraperq.storage import Database, migrate
from scraperq.storage.connection import utcnow
from scraperq.storage.migrations import MIGRATIONS
from scraperq.storage.partitions import PAST, day_of, partition_name, partitions
from scraperq.storage.results import ResultRow, iter_results
from scraperq.storage.tasks import NewTask, create_tasks
from scraperq.storage.writer import BatchWriter

BEFORE_12 = tuple(m for m in MIGRATIONS if m.version < 12)


@pytest.fixture
def pg(pg_url: str):
    db = Database(pg_url)
    yield db
    db.close()


def rows_of(db: Database) -> list[tuple]:
    with db.transaction() as cur:
        rows = cur.execute("SELECT id, task_id, fingerprint, data, scraped_at FROM results ORDER BY id").fetchall()
    return [(r["id"], r["task_id"], r["fingerprint"], r["data"]["n"], r["scraped_at"]) for r in rows]


def test_migration_12_moves_an_unpartitioned_table_into_partitions_without_loss_or_duplicates(pg: Database) -> None:
    migrate(pg, migrations=BEFORE_12)
    now = utcnow()
    [a, b] = create_tasks(pg, [NewTask(spider="books", url=f"https://books.example/{n}") for n in range(2)])
    writer = BatchWriter(pg, max_batch=100_000)
    for n in range(2000):
        writer.add_result(ResultRow(a if n % 2 else b, "books", "u", {"n": n}, now - timedelta(hours=n), f"f{n}"))
    writer.flush()
    before = rows_of(pg)

    assert migrate(pg) == [12]
    assert migrate(pg) == []

    assert rows_of(pg) == before  # same ids, same rows, none twice
    with pg.transaction() as cur:
        names = [p.name for p in partitions(cur)]
        kind = cur.execute("SELECT relkind FROM pg_class WHERE oid = 'results'::regclass").fetchone()["relkind"]
    assert kind == "p" and names[0] == PAST
    assert partition_name(day_of(now) + timedelta(days=2)) in names  # made ahead of need
    assert partition_name(day_of(now) + timedelta(days=3)) in names

    # Re-delivery after the move: the same request, scraped again later, stores nothing new.
    writer.add_result(ResultRow(a, "books", "u", {"n": -1}, now + timedelta(days=3), "f1"))
    writer.add_result(ResultRow(a, "books", "u", {"n": 5000}, now + timedelta(days=3), "new"))
    assert writer.flush().results_inserted == 1
    assert len(rows_of(pg)) == 2001
    assert [r["data"]["n"] for r in iter_results(pg, task_id=a)][-1] == 5000

    with pg.transaction() as cur:  # by task, spider and time: an index, in every partition
        for where in ("task_id = 1", "spider = 'books' ORDER BY id LIMIT 10", f"scraped_at >= '{now.isoformat()}'"):
            cur.execute("SET LOCAL enable_seqscan = off")
            plan = " ".join(
                r["QUERY PLAN"] for r in cur.execute(f"EXPLAIN SELECT * FROM results WHERE {where}").fetchall()
            )
            assert "Seq Scan" not in plan, plan


def test_a_write_for_a_day_without_a_partition_makes_it(pg: Database) -> None:
    migrate(pg)
    [task] = create_tasks(pg, [NewTask(spider="books", url="https://books.example/")])
    far = utcnow() + timedelta(days=40)
    writer = BatchWriter(pg)
    writer.add_result(ResultRow(task, "books", "u", {"n": 1}, far, "f"))
    assert writer.flush().results_inserted == 1
    with pg.transaction() as cur:
        assert partition_name(day_of(far)) in [p.name for p in partitions(cur)]
