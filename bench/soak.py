"""Soak: N one-page tasks, two workers, one killed with ``kill -9`` and Redis wiped half-way.

Run from the project folder (PostgreSQL on loopback as for the tests; the benchmark
starts its own Redis, without persistence, and its own site, ``bench/static_site.py``)::

    .venv/bin/python bench/soak.py [--pages 50000] [--peer] [--text none]

``scraperq enqueue --file`` queues one task per page; two ``scrapy crawl generic``
workers take them. When half the pages are stored, one worker is killed with
``kill -9`` and Redis is emptied (``FLUSHALL``, what a restart without persistence
does), then the killed worker is started again. The run ends when every task has
ended. It prints

* pages lost (pages of the site with no result) and duplicates (result rows beyond
  one per page): both must be 0; pages fetched more than once (work redone after
  the loss: allowed, it stores nothing twice);
* the resident memory (RSS) of the worker that ran from start to end, against pages
  stored, and whether it stays level: within 10% of its value after warm-up (the
  first 20% of the pages) to the end.

With ``--peer`` the same run with stock scrapy-redis (its scheduler and dupefilter,
``bench/stock_spider.py``, no pipeline: pages counted at the site) is printed beside.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from queue_throughput import BIN, STOCK, Services, crawl_env, finish, start, wait  # noqa: E402

WARM_UP = 0.2  # share of the pages after which RSS must stay level
LEVEL = 0.10  # how level: within 10%


@dataclass
class Soak:
    label: str
    pages: int
    stored: int = 0
    lost: int = 0
    duplicates: int = 0
    fetched_again: int = 0
    seconds: float = 0.0
    rss: list[tuple[int, float]] = field(default_factory=list)  # (pages stored, MiB)
    notes: list[str] = field(default_factory=list)

    def level(self) -> tuple[float, float, bool] | None:
        after = [mib for done, mib in self.rss if done >= WARM_UP * self.pages]
        if len(after) < 2:
            return None
        base = after[0]
        growth = max(after) / base - 1
        return base, growth, growth <= LEVEL


def rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def worker_args(text: str, trace: Path | None = None) -> list[str]:
    args = [str(BIN / "scrapy"), "crawl", "generic", "-a", "worker=1", "-a", f"text={text}"]
    if trace is not None:  # see bench/memtrace.py
        args += ["-s", 'EXTENSIONS={"memtrace.MemTrace": 0}', "-s", f"MEMTRACE_OUTPUT={trace}"]
        args += ["-s", "MEMTRACE_AFTER=200"]
    return args


def stored_pages(services: Services) -> tuple[int, int]:
    """(result rows, distinct URLs)."""
    with psycopg.connect(services.db_url, autocommit=True) as conn:
        if not conn.execute("SELECT to_regclass('results') IS NOT NULL").fetchone()[0]:
            return 0, 0
        rows, urls = conn.execute("SELECT COUNT(*), COUNT(DISTINCT url) FROM results").fetchone()
    return int(rows), int(urls)


def tasks_left(services: Services) -> int:
    with psycopg.connect(services.db_url, autocommit=True) as conn:
        if not conn.execute("SELECT to_regclass('tasks') IS NOT NULL").fetchone()[0]:
            return -1
        return int(conn.execute("SELECT COUNT(*) FROM tasks WHERE status IN ('pending', 'running')").fetchone()[0])


def run_scraperq(services: Services, logdir: Path, text: str, sample_every: float, trace: Path | None) -> Soak:
    services.reset()
    result = Soak("scraperq: Redis queue + PostgreSQL ledger", services.pages)
    env = crawl_env(services, with_redis=True)
    if trace is not None:
        env["PYTHONPATH"] += os.pathsep + str(Path(__file__).parent)
    steady = start(worker_args(text, trace), env, logdir / "worker0.log")
    victim = start(worker_args(text), env, logdir / "worker1.log")
    urls = logdir / "urls.txt"
    urls.write_text("".join(f"{services.site}/p/{n}.html\n" for n in range(services.pages)))
    began = time.monotonic()
    try:
        wait(lambda: services.redis.zcard("generic:workers") == 2, 120, "the workers")
        command = [str(BIN / "scraperq"), "enqueue", "--file", str(urls)]
        enqueue = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if enqueue.returncode != 0:
            raise SystemExit(f"scraperq enqueue failed: {enqueue.stderr.strip()}")
        faulted = False
        last_sample = 0.0
        while True:
            rows, distinct = stored_pages(services)
            now = time.monotonic()
            if now - last_sample >= sample_every:
                mib = rss_mib(steady.pid)
                if mib is not None:
                    result.rss.append((distinct, mib))
                last_sample = now
            if not faulted and distinct >= services.pages // 2:
                victim.kill()  # kill -9
                victim.wait()
                victim.log.close()  # type: ignore[attr-defined]
                services.redis.flushall()
                faulted = True
                result.notes.append(f"killed one worker and wiped Redis at {distinct} pages")
                victim = start(worker_args(text), env, logdir / "worker1-again.log")
            if faulted and tasks_left(services) == 0:
                break
            if steady.poll() is not None:
                raise SystemExit(f"the steady worker exited; see {logdir}")
            if now - began > 3600:
                result.notes.append("gave up after an hour")
                break
            time.sleep(0.5)
        result.seconds = time.monotonic() - began
    finally:
        finish([steady, victim], stop=True)
    rows, distinct = stored_pages(services)
    result.stored = distinct
    result.lost = services.pages - distinct
    result.duplicates = rows - distinct
    result.fetched_again = max(0, int(services.site_stats()["pages"]) - services.pages)
    return result


def run_stock(services: Services, logdir: Path, text: str, sample_every: float) -> Soak:
    """The same with stock scrapy-redis: two workers, one killed and Redis wiped half-way."""
    services.reset()
    result = Soak("stock scrapy-redis 0.9.1 (no pipeline)", services.pages)
    args = [str(BIN / "scrapy"), "runspider", str(Path(__file__).parent / "stock_spider.py"), "-a", f"text={text}"]
    args += STOCK + ["-s", "MAX_IDLE_TIME_BEFORE_CLOSE=10"]
    env = crawl_env(services, with_redis=True)
    steady, victim = (start(args, env, logdir / f"stock{i}.log") for i in range(2))
    began = time.monotonic()
    try:
        time.sleep(3)  # let both open before the URLs appear
        for first in range(0, services.pages, 5000):
            batch = [f"{services.site}/p/{n}.html" for n in range(first, min(services.pages, first + 5000))]
            services.redis.lpush("stock_generic:start_urls", *batch)
        faulted = False
        while steady.poll() is None:
            served = int(services.site_stats()["pages"])
            mib = rss_mib(steady.pid)
            if mib is not None:
                result.rss.append((served, mib))
            if not faulted and served >= services.pages // 2:
                victim.kill()
                victim.wait()
                victim.log.close()  # type: ignore[attr-defined]
                services.redis.flushall()
                faulted = True
                result.notes.append(f"killed one worker and wiped Redis at {served} pages")
            time.sleep(sample_every)
        result.seconds = time.monotonic() - began
    finally:
        finish([steady, victim], stop=True)
    served = int(services.site_stats()["pages"])
    result.stored = min(served, services.pages)
    result.lost = services.pages - result.stored
    result.notes.append("pages counted at the site (no pipeline); a page fetched twice is not told apart")
    return result


def report(rows: list[Soak]) -> None:
    print()
    print(f"{'run':<44}{'pages':>8}{'lost':>7}{'duplicates':>12}{'fetched again':>15}{'seconds':>9}  notes")
    for row in rows:
        print(
            f"{row.label:<44}{row.pages:>8}{row.lost:>7}{row.duplicates:>12}{row.fetched_again:>15}"
            f"{row.seconds:>9.0f}  {'; '.join(row.notes)}"
        )
    for row in rows:
        print(f"\nworker RSS over the run, {row.label} (pages stored: MiB):")
        step = max(1, len(row.rss) // 12)
        print("  " + ", ".join(f"{done}: {mib:.1f}" for done, mib in row.rss[::step] + row.rss[-1:]))
        level = row.level()
        if level is None:
            print("  too few samples after warm-up to judge")
        else:
            base, growth, ok = level
            print(
                f"  after warm-up ({WARM_UP:.0%} of the pages): {base:.1f} MiB, at most {growth:+.1%} since"
                f" ({'level' if ok else 'NOT level'}: target within {LEVEL:.0%})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=50_000)
    parser.add_argument("--peer", action="store_true", help="also run stock scrapy-redis the same way")
    parser.add_argument("--text", default="none", help="the generic spider's -a text= (default none: less CPU)")
    parser.add_argument("--sample", type=float, default=2.0, help="seconds between RSS samples")
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="trace the steady worker's allocations (slower; bench/memtrace.py)"
    )
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is needed (the benchmark runs its own)")
    logdir = Path(tempfile.mkdtemp(prefix="soak-"))
    services = Services(args.pages, logdir)
    rows: list[Soak] = []
    try:
        trace = logdir / "memtrace.txt" if args.tracemalloc else None
        rows.append(run_scraperq(services, logdir, args.text, args.sample, trace))
        if args.peer:
            rows.append(run_stock(services, logdir, args.text, args.sample))
    finally:
        services.close()
    report(rows)
    if args.tracemalloc and (logdir / "memtrace.txt").exists():
        print("\nthe steady worker's allocations that grew most (tracemalloc):")
        print((logdir / "memtrace.txt").read_text())
    if args.keep_logs:
        print(f"\nlogs: {logdir}")
    else:
        shutil.rmtree(logdir, ignore_errors=True)
    failed = any(row.lost or row.duplicates for row in rows[:1])
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
