"""Bulk enqueue: URLs from a file to task rows and queue entries, beside the previous code and a plain LPUSH loop.

Run from the project folder (PostgreSQL and Redis on loopback as for the tests)::

    .venv/bin/python bench/enqueue.py [--urls 100000] [--runs 3]

Each run takes the same file of URLs three ways, in turns, and the median of each is printed:

* ``scraperq enqueue --file F --ids-output FILE`` as the command runs it (in this process,
  after start-up): reading and checking every URL, a ``tasks`` row each by COPY, payloads
  by pipelined ``LPUSH``, ids written;
* the previous code, kept here as it was: every URL through ``urlsplit`` twice, rows by a
  multi-row ``INSERT ... SELECT FROM unnest`` per 5,000, one ``LPUSH`` each, ``json.dumps``
  of a dict per payload;
* the peer: scrapy-redis' way of feeding a spider, one ``LPUSH`` per URL in a loop
  (no task rows, no checks).

It also times the real executable once end to end (interpreter start and imports included).
PostgreSQL: a database made for the run and dropped after. Redis: keys of a spider name
made for the run, deleted after.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scraperq.cli import main as scraperq_main  # noqa: E402
from scraperq.payloads import blocked_reason, payload_json  # noqa: E402
from scraperq.queue.taskrows import insert_pending  # noqa: E402
from scraperq.storage import open_database  # noqa: E402
from scraperq.storage.tasks import NewTask  # noqa: E402
from scraperq.urls import checked_url_and_host  # noqa: E402

PG_ADMIN = os.environ.get("SCRAPERQ_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SCRAPERQ_BENCH_REDIS", "redis://127.0.0.1:6379/0")
OLD_CHUNK = 5000


def write_urls(path: Path, count: int) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(f"https://shop{n % 50}.example.com/catalogue/item-{n}.html?ref=feed\n" for n in range(count))


def previous_code(db_url: str, client: redis.Redis, path: Path, spider: str) -> float:
    """The enqueue path before bulk enqueue, step for step."""
    started = time.perf_counter()
    with open(path, encoding="utf-8") as handle:
        raw = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    urls = []
    for value in raw:
        url, _ = checked_url_and_host(value)
        if blocked_reason(url, False) is not None:
            raise SystemExit(f"refused {url}")
        urls.append(url)
    key = f"{spider}:start_urls"
    with open_database(db_url) as db:
        for start in range(0, len(urls), OLD_CHUNK):
            part = urls[start : start + OLD_CHUNK]
            with db.transaction() as cur:
                new = insert_pending(cur, [NewTask(spider=spider, url=u, source="cli") for u in part])
            client.lpush(key, *[payload_json(u, task_id=t) for u, t in zip(part, new, strict=True)])
    return time.perf_counter() - started


def bulk_enqueue(path: Path, ids: Path) -> float:
    started = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):  # its summary line; the table says it all
        status = scraperq_main(["enqueue", "--file", str(path), "--ids-output", str(ids)])
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"scraperq enqueue exited {status}")
    return elapsed


def lpush_loop(client: redis.Redis, path: Path, spider: str) -> float:
    started = time.perf_counter()
    key = f"{spider}:start_urls"
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            client.lpush(key, line.strip())
    return time.perf_counter() - started


def executable(path: Path, ids: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "scraperq"), "enqueue", "--file", str(path), "--ids-output", str(ids)],
        env=dict(os.environ),
        check=True,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--urls", type=int, default=100_000, help="URLs in the file (default 100000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each way, taken in turns (default 3)")
    args = parser.parse_args()

    name = f"scraperq_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    client = redis.Redis.from_url(REDIS_URL)
    spiders: list[str] = []
    times: dict[str, list[float]] = {"bulk": [], "previous": [], "loop": []}
    try:
        # The generic spider's payloads go to a key of this run (settings read the environment once).
        bulk_key = f"{_spider(spiders)}:start_urls"
        os.environ.update(DATABASE_URL=db_url, REDIS_URL=REDIS_URL, REDIS_START_URLS_KEY=bulk_key)
        with open_database(db_url):
            pass  # migrated once, outside the timings
        with tempfile.TemporaryDirectory() as tmp:
            path, ids = Path(tmp) / "urls.txt", Path(tmp) / "ids.txt"
            write_urls(path, args.urls)
            bulk_enqueue(path, ids)  # warm-up: settings and spider list loaded once
            for _ in range(args.runs):
                times["bulk"].append(bulk_enqueue(path, ids))
                times["previous"].append(previous_code(db_url, client, path, _spider(spiders)))
                times["loop"].append(lpush_loop(client, path, _spider(spiders)))
            whole = executable(path, ids)
            assert len(ids.read_text().split()) == args.urls
    finally:
        for spider in spiders:
            client.delete(f"{spider}:start_urls")
        client.close()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    bulk = statistics.median(times["bulk"])
    rows = [
        ("scraperq enqueue (COPY, pipelined LPUSH)", bulk, True),
        ("previous code (INSERT ... unnest, LPUSH per 5,000)", statistics.median(times["previous"]), True),
        ("plain LPUSH loop, scrapy-redis style (no tasks)", statistics.median(times["loop"]), False),
    ]
    print(f"{args.urls:,} URLs from a file, PostgreSQL and Redis on loopback; median of {args.runs} runs")
    print(f"{'way':<54}{'seconds':>9}{'URLs/s':>11}{'vs scraperq':>13}  tasks")
    for label, seconds, tasks in rows:
        ratio = seconds / bulk if bulk else float("nan")
        print(f"{label:<54}{seconds:>9.2f}{args.urls / seconds:>11,.0f}{ratio:>12.2f}x  {'yes' if tasks else 'no'}")
    print(f"{'the scraperq executable, start-up included':<54}{whole:>9.2f}")


def _spider(spiders: list[str]) -> str:
    spiders.append(f"bench{uuid.uuid4().hex[:8]}")
    return spiders[-1]


if __name__ == "__main__":
    main()
