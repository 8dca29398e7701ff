"""What only-new crawls cost per URL: storage, lookups, and worker memory, beside the usual alternatives.

Run from the project folder (PostgreSQL on loopback as for the tests)::

    .venv/bin/python bench/only_new.py [--urls 100000]

scraperq keeps one ``stored_pages`` row per stored page (spider, 8-byte URL key,
modification date, 8-byte content hash) in the database every worker shares. It
fills the table through the same claim the store pipeline makes (batches of 100
results, one transaction each) and prints, for PostgreSQL and SQLite:

* bytes per URL on disk (table and primary-key index; SQLite: file growth);
* claims per second, and the time to look up the 50 links of a page (one query,
  as OnlyNewMiddleware does per response), against the full table;
and the worker keeps nothing per URL in memory (lookups go to the database).

Beside it, the two ways Scrapy users keep "seen" pages otherwise, filled with the
same URLs: scrapy-deltafetch's store (a ``dbm`` file per spider on the worker's
own disk, key = 40-character request fingerprint, value = a timestamp), and an
in-process Python set of 20-byte SHA1 fingerprints (memory per URL, by
tracemalloc). Neither is shared between workers.
"""

from __future__ import annotations

import argparse
import dbm
import hashlib
import os
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scraperq.storage import open_database  # noqa: E402
from scraperq.storage.results import PageClaim, ResultRow, insert_results, stored_pages, url_key  # noqa: E402
from scraperq.storage.tasks import NewTask, create_tasks  # noqa: E402

PG_ADMIN = os.environ.get("SCRAPERQ_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BATCH = 100


def urls(count: int) -> list[str]:
    return [f"https://news.example.org/2026/03/{n // 100}/story-{n}.html" for n in range(count)]


def fill(database_url: str, links: list[str]) -> dict[str, float]:
    with open_database(database_url) as db:
        [task] = create_tasks(db, [NewTask(spider="bench", url="https://news.example.org/")])
        now = datetime.now(UTC)
        started = time.perf_counter()
        for start in range(0, len(links), BATCH):
            rows = [
                ResultRow(
                    task, "bench", url, {"n": n}, now, f"fp{n}", claim=PageClaim(url_key(url), (), now, n, False)
                )  # fmt: skip
                for n, url in enumerate(links[start : start + BATCH], start)
            ]
            with db.transaction() as cur:
                insert_results(cur, rows)
        claims = len(links) / (time.perf_counter() - started)
        keys = [url_key(u) for u in links]
        page = keys[len(keys) // 2 : len(keys) // 2 + 50]
        started = time.perf_counter()
        for _ in range(200):
            found = stored_pages(db, "bench", page)
        lookup_ms = 1000 * (time.perf_counter() - started) / 200
        assert len(found) == 50
        with db.transaction() as cur:
            # Results are needed for the claims, but they are not what is measured: drop them first.
            cur.execute("DELETE FROM results")
        return {"claims_per_s": claims, "lookup_ms": lookup_ms}


def postgresql(links: list[str]) -> dict[str, float]:
    name = f"scraperq_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        figures = fill(url, links)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE stored_pages")
            size = conn.execute("SELECT pg_total_relation_size('stored_pages')").fetchone()[0]
        figures["bytes_per_url"] = size / len(links)
        return figures
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite(links: list[str], folder: Path) -> dict[str, float]:
    path = folder / "bench.sqlite3"
    url = f"sqlite:///{path}"
    open_database(url).close()  # schema only
    import sqlite3

    def size() -> int:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        conn.close()
        return path.stat().st_size

    empty = size()
    figures = fill(url, links)
    figures["bytes_per_url"] = (size() - empty) / len(links)
    return figures


def deltafetch_dbm(links: list[str], folder: Path) -> float:
    path = folder / "deltafetch"
    store = dbm.open(str(path), "c")
    for link in links:
        store[hashlib.sha1(link.encode()).hexdigest()] = str(time.time())
    store.close()
    return sum(p.stat().st_size for p in folder.glob("deltafetch*")) / len(links)


def python_set(links: list[str]) -> float:
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    seen = {hashlib.sha1(link.encode()).digest() for link in links}
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used / len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--urls", type=int, default=100_000)
    args = parser.parse_args()
    links = urls(args.urls)
    with tempfile.TemporaryDirectory(prefix="only-new-bench-") as tmp:
        folder = Path(tmp)
        pg = postgresql(links)
        lite = sqlite(links, folder)
        dbm_bytes = deltafetch_dbm(links, folder)
        set_bytes = python_set(links)
    print(f"\n{args.urls:,} stored pages\n")
    print(f"{'store':<58}{'bytes/URL':>10}{'claims/s':>10}{'lookup of 50 links':>20}")
    print(f"{'scraperq stored_pages, PostgreSQL (shared by all workers)':<58}{pg['bytes_per_url']:>10.0f}"
          f"{pg['claims_per_s']:>10.0f}{pg['lookup_ms']:>17.2f} ms")  # fmt: skip
    print(f"{'scraperq stored_pages, SQLite (one machine)':<58}{lite['bytes_per_url']:>10.0f}"
          f"{lite['claims_per_s']:>10.0f}{lite['lookup_ms']:>17.2f} ms")  # fmt: skip
    print(f"{'scrapy-deltafetch-style dbm file (per worker disk)':<58}{dbm_bytes:>10.0f}{'-':>10}{'-':>20}")
    print(f"{'in-process set of SHA1 digests (per worker memory)':<58}{set_bytes:>10.0f}{'-':>10}{'-':>20}")


if __name__ == "__main__":
    main()
