"""Pages per second on one local site: bare Scrapy, stock scrapy-redis, scraperq's queue.

Run from the project folder when the machine is otherwise quiet (PostgreSQL on
loopback as for the tests; the benchmark starts its own Redis and site)::

    .venv/bin/python bench/queue_throughput.py [--pages 3000] [--repeat 3]

Every mode runs the same spider (``generic``: page extraction, same-host links
followed) over the same site (``bench/static_site.py``: a few thousand linked
pages in memory, served by asyncio) with the project's concurrency settings:

(a)  bare Scrapy: Scrapy's in-memory scheduler and dupefilter, none of scraperq's
     middlewares or extensions, no item pipeline (items are dropped);
(b)  stock scrapy-redis 0.9.1: its scheduler and dupefilter (pickled requests), same
     bare middlewares, no pipeline; one and two workers;
(c)  scraperq as deployed: the Redis queue with leases, the task middlewares and the
     validate + PostgreSQL store pipelines; one and two workers;
and, for reference, scraperq without Redis (in-process queue, PostgreSQL pipeline),
which shows how much of the gap to (a) is the queue and how much the rest.

Pages per second are counted by the site: pages served / (last - first page
request), so process start-up is left out. For (c) the time from pushing the start
URL until every page's result is committed is printed too. CPU is the user+system
time of the crawl processes per page, their start-up included. The site's own capacity (one client, 16
connections) is printed first, to show it is not what limits the crawls.

Seen-set memory (``MEMORY USAGE``): for (b) its ``stock_generic:dupefilter`` set after
the crawl; for (c) the largest ``generic:dupefilter*`` seen during the crawl (a task's
seen-set is dropped when the task drains); and both designs filled directly with
3,000 and 100,000 fingerprints.

Targets (DESIGN): (c) one worker >= 0.9 x (a); (c) two workers >= 1.8 x (c) one worker.
Nothing is tuned per mode; the figures are what this machine gives. For the second
target, the machine's own ceiling is printed too: how two CPU-bound Python processes
run side by side against one alone (the two workers also share the cores with
Redis, PostgreSQL and the site).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get("SCRAPERQ_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

BARE = [
    "-s", "SCHEDULER=scrapy.core.scheduler.Scheduler",
    "-s", "DUPEFILTER_CLASS=scrapy.dupefilters.RFPDupeFilter",
    "-s", "ITEM_PIPELINES={}",
    "-s", "DOWNLOADER_MIDDLEWARES={}",
    "-s", "SPIDER_MIDDLEWARES={}",
    "-s", "EXTENSIONS={}",
]  # fmt: skip
STOCK = [
    "-s", "SCHEDULER=scrapy_redis.scheduler.Scheduler",
    "-s", "DUPEFILTER_CLASS=scrapy_redis.dupefilter.RFPDupeFilter",
    "-s", "SCHEDULER_PERSIST=True",  # or the first worker to finish flushes the others' queue
    "-s", "MAX_IDLE_TIME_BEFORE_CLOSE=3",
    "-s", "ITEM_PIPELINES={}",
    "-s", "DOWNLOADER_MIDDLEWARES={}",
    "-s", "SPIDER_MIDDLEWARES={}",
    "-s", "EXTENSIONS={}",
]  # fmt: skip
FOLLOW = ["-a", "follow=same-host", "-a", "depth=100"]


@dataclass
class Result:
    label: str
    workers: int
    pages: int = 0
    rate: float = 0.0
    cpu_ms: float = 0.0
    end_to_end: float | None = None
    seen_bytes: float | None = None
    notes: list[str] = field(default_factory=list)


# -- services ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Services:
    def __init__(self, pages: int, workdir: Path) -> None:
        self.pages = pages
        self.workdir = workdir
        self.site_proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "static_site.py"), "--pages", str(pages)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.site_proc.stdout is not None
        self.site = self.site_proc.stdout.readline().strip()
        port = free_port()
        self.redis_proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        self.redis = redis.Redis.from_url(self.redis_url)
        wait(lambda: _pings(self.redis), 10, "the benchmark's Redis")
        self.db_name = f"scraperq_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self.db_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.db_name
        self._watch: psycopg.Connection[Any] | None = None

    def site_stats(self) -> dict[str, float]:
        with urllib.request.urlopen(self.site + "/__stats__", timeout=10) as resp:
            return json.load(resp)

    def reset(self) -> None:
        urllib.request.urlopen(self.site + "/__reset__", timeout=10).close()
        self.redis.flushdb()
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            if conn.execute("SELECT to_regclass('tasks') IS NOT NULL").fetchone()[0]:
                conn.execute("TRUNCATE results, tasks RESTART IDENTITY CASCADE")

    def results(self) -> int:
        # One connection kept open: a new one per poll would fork a PostgreSQL backend
        # twenty times a second, CPU taken from the crawl being measured.
        if self._watch is None or self._watch.closed:
            self._watch = psycopg.connect(self.db_url, autocommit=True)
        if not self._watch.execute("SELECT to_regclass('results') IS NOT NULL").fetchone()[0]:
            return 0
        return int(self._watch.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
        self.redis.close()
        for proc in (self.site_proc, self.redis_proc):
            proc.terminate()
            proc.wait(timeout=10)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def wait(predicate: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(interval)


# -- crawls -------------------------------------------------------------------------------


def crawl_env(services: Services, *, with_redis: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCRAPERQ_", "SCRAPY_", "REDIS_"))}
    env.update(
        {
            "DATABASE_URL": services.db_url,
            "SCRAPERQ_ALLOW_PRIVATE": "127.0.0.0/8",
            "PYTHONPATH": str(ROOT),
            "LOGSTATS_INTERVAL": "3600",
        }
    )
    if with_redis:
        env["REDIS_URL"] = services.redis_url
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(proxy, None)
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = open(log, "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    proc.log = handle  # type: ignore[attr-defined]
    return proc


def finish(procs: list[subprocess.Popen[bytes]], *, stop: bool, timeout: float = 120) -> None:
    for proc in procs:
        if stop and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.log.close()  # type: ignore[attr-defined]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(services: Services, result: Result, cpu_before: float) -> Result:
    stats = services.site_stats()
    result.pages = int(stats["pages"])
    span = stats["last"] - stats["first"]
    result.rate = result.pages / span if span > 0 else 0.0
    result.cpu_ms = 1000 * (children_cpu() - cpu_before) / max(1, result.pages)
    if result.pages < services.pages:
        result.notes.append(f"only {result.pages} of {services.pages} pages fetched")
    return result


def run_bare(services: Services, logdir: Path) -> Result:
    services.reset()
    cpu = children_cpu()
    url = f"url={services.site}/p/0.html"
    args = [str(BIN / "scrapy"), "crawl", "generic", "-a", url, *FOLLOW, *BARE]
    proc = start(args, crawl_env(services, with_redis=False), logdir / "a.log")
    finish([proc], stop=False, timeout=600)
    return measured(services, Result("(a) bare Scrapy, in-memory scheduler, no pipeline", 1), cpu)


def run_local_scraperq(services: Services, logdir: Path) -> Result:
    services.reset()
    cpu = children_cpu()
    args = [str(BIN / "scrapy"), "crawl", "generic", "-a", f"url={services.site}/p/0.html", *FOLLOW]
    proc = start(args, crawl_env(services, with_redis=False), logdir / "local.log")
    finish([proc], stop=False, timeout=600)
    return measured(services, Result("    scraperq without Redis (reference)", 1), cpu)


def run_stock(services: Services, logdir: Path, workers: int) -> Result:
    services.reset()
    cpu = children_cpu()
    args = [str(BIN / "scrapy"), "runspider", str(ROOT / "bench" / "stock_spider.py"), *FOLLOW, *STOCK]
    env = crawl_env(services, with_redis=True)
    procs = [start(args, env, logdir / f"b{workers}-{i}.log") for i in range(workers)]
    try:
        time.sleep(3)  # let every worker open before the start URL appears
        services.redis.lpush("stock_generic:start_urls", f"{services.site}/p/0.html")
    finally:
        finish(procs, stop=False, timeout=600)  # each closes after 3 s without work
    result = measured(services, Result("(b) stock scrapy-redis, no pipeline", workers), cpu)
    seen = services.redis.scard("stock_generic:dupefilter")
    if seen:
        result.seen_bytes = services.redis.memory_usage("stock_generic:dupefilter", samples=0) / seen
    return result


class SeenSampler(threading.Thread):
    """The largest scraperq seen-set seen during a crawl: (bytes, fingerprints)."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.best = (0, 0)
        self.running = True

    def run(self) -> None:
        while self.running:
            counts = self.client.hvals("generic:dupefilter")
            count = sum(int(c) for c in counts)
            if count > self.best[1]:
                keys = ["generic:dupefilter", *self.client.scan_iter("generic:dupefilter:*", count=1000)]
                used = sum(self.client.memory_usage(k, samples=0) or 0 for k in keys)
                self.best = (used, count)
            time.sleep(0.2)


def run_scraperq(services: Services, logdir: Path, workers: int) -> Result:
    services.reset()
    cpu = children_cpu()
    args = [str(BIN / "scrapy"), "crawl", "generic", *FOLLOW]
    env = crawl_env(services, with_redis=True)
    procs = [start(args, env, logdir / f"c{workers}-{i}.log") for i in range(workers)]
    sampler = SeenSampler(redis.Redis.from_url(services.redis_url))
    try:
        wait(lambda: services.redis.zcard("generic:workers") == workers, 120, "the workers")
        sampler.start()
        pushed = time.monotonic()
        services.redis.lpush("generic:start_urls", f"{services.site}/p/0.html")
        wait(lambda: services.results() >= services.pages, 600, "every page stored", interval=0.05)
        end_to_end = time.monotonic() - pushed
    finally:
        sampler.running = False
        if sampler.is_alive():
            sampler.join()
        finish(procs, stop=True)
    result = measured(services, Result("(c) scraperq: Redis queue + PostgreSQL", workers), cpu)
    result.end_to_end = end_to_end
    used, count = sampler.best
    if count:
        result.seen_bytes = used / count
    return result


# -- seen-set memory, filled directly ------------------------------------------------------------


def seen_set_sizes(services: Services, counts: tuple[int, ...] = (3_000, 100_000)) -> list[tuple[int, float, float]]:
    from scraperq.queue.keys import QueueKeys
    from scraperq.queue.redisqueue import SEEN_CHECK, PushItem, RedisQueue

    client = services.redis
    rows = []
    for count in counts:
        client.flushdb()
        queue = RedisQueue(client, QueueKeys.for_spider("generic"), worker="bench")
        hexes = []
        for begin in range(0, count, 2000):
            items = []
            for i in range(begin, min(count, begin + 2000)):
                digest = hashlib.sha1(f"https://example.com/page/{i}".encode()).digest()
                hexes.append(digest.hex())
                fingerprint = int.from_bytes(digest[:8], "big", signed=True)
                items.append(PushItem("{}", 1, 0, SEEN_CHECK, fingerprint, int.from_bytes(digest[8:12], "big")))
            queue.push(items)
        keys = ["generic:dupefilter", *client.scan_iter("generic:dupefilter:*", count=1000)]
        ours = sum(client.memory_usage(k, samples=0) for k in keys) / count
        for begin in range(0, count, 2000):
            client.sadd("stock:dupefilter", *hexes[begin : begin + 2000])
        stock = client.memory_usage("stock:dupefilter", samples=0) / count
        rows.append((count, ours, stock))
    client.flushdb()
    return rows


# -- report -----------------------------------------------------------------------------------------


def median(results: list[Result]) -> Result:
    """The median run of a mode (by pages per second), noting the spread."""
    ordered = sorted(results, key=lambda r: r.rate)
    middle = ordered[len(ordered) // 2]
    if len(ordered) > 1:
        middle.notes.append(f"runs {ordered[0].rate:.0f}-{ordered[-1].rate:.0f}")
    return middle


_BUSY_LOOP = "import time\nx = 0\nfor i in range(8_000_000): x += i * i % 7\nprint(time.time())"


def two_process_scaling() -> float:
    """Work done per second by two CPU-bound Python processes at once, against one alone."""

    def run(count: int) -> float:
        start = time.time()
        procs = [subprocess.Popen([sys.executable, "-c", _BUSY_LOOP], stdout=subprocess.PIPE) for _ in range(count)]
        ends = [float(proc.communicate()[0]) for proc in procs]
        return count / (max(ends) - start)

    return run(2) / run(1)


def report(capacity: float, scaling: float, rows: list[Result], seen: list[tuple[int, float, float]]) -> None:
    base = rows[0].rate or 1.0
    print(f"\nsite capacity (one client, 16 connections): {capacity:,.0f} requests/s\n")
    print(f"{'mode':<52}{'workers':>8}{'pages':>7}{'pages/s':>9}{'x (a)':>7}{'CPU ms/page':>13}  notes")
    for row in rows:
        notes = list(row.notes)
        if row.end_to_end is not None:
            notes.insert(0, f"all stored {row.end_to_end:.1f}s after the push")
        if row.seen_bytes is not None:
            notes.append(f"seen-set {row.seen_bytes:.1f} B/URL")
        print(
            f"{row.label:<52}{row.workers:>8}{row.pages:>7}{row.rate:>9.1f}{row.rate / base:>7.2f}"
            f"{row.cpu_ms:>13.2f}  {'; '.join(notes)}"
        )
    one = next((r for r in rows if r.label.startswith("(c)") and r.workers == 1), None)
    two = next((r for r in rows if r.label.startswith("(c)") and r.workers == 2), None)
    if one and two:
        print(
            f"\ntargets: (c) 1 worker / (a) = {one.rate / base:.2f} (target >= 0.90);"
            f" (c) 2 workers / (c) 1 worker = {two.rate / one.rate:.2f} (target >= 1.80;"
            f" two CPU-bound processes on this machine: {scaling:.2f} x one)"
        )
    print("\nseen-set memory per URL (MEMORY USAGE), filled directly:")
    print(f"{'fingerprints':>14}{'scraperq (intset shards)':>27}{'scrapy-redis (hex SHA1 set)':>30}")
    for count, ours, stock in seen:
        print(f"{count:>14,}{ours:>25.1f} B{stock:>28.1f} B")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode, in turns; the median is shown")
    parser.add_argument("--keep-logs", action="store_true", help="keep the crawl logs (their folder is printed)")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is needed (the benchmark runs its own)")
    logdir = Path(tempfile.mkdtemp(prefix="queue-bench-"))
    services = Services(args.pages, logdir)
    try:
        capacity = float(
            subprocess.run(
                [sys.executable, str(ROOT / "bench" / "static_site.py"), "--probe", services.site],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        modes = [
            lambda: run_bare(services, logdir),
            lambda: run_stock(services, logdir, 1),
            lambda: run_stock(services, logdir, 2),
            lambda: run_scraperq(services, logdir, 1),
            lambda: run_scraperq(services, logdir, 2),
            lambda: run_local_scraperq(services, logdir),
        ]
        # Modes take turns, round after round, so that a change in the machine's load
        # during the benchmark falls on every mode alike.
        runs: list[list[Result]] = [[] for _ in modes]
        for round_number in range(1, max(1, args.repeat) + 1):
            for mode, done in zip(modes, runs, strict=True):
                done.append(mode())
                print(
                    f"  round {round_number}: {done[-1].label.strip()} x{done[-1].workers}: "
                    f"{done[-1].rate:.1f} pages/s (load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
        rows = [median(done) for done in runs]
        seen = seen_set_sizes(services)
        report(capacity, two_process_scaling(), rows, seen)
        if args.repeat > 1:
            print(f"(median of {args.repeat} runs per mode, taken in turns)")
    finally:
        services.close()
        if args.keep_logs:
            print(f"logs: {logdir}")
        else:
            shutil.rmtree(logdir, ignore_errors=True)


if __name__ == "__main__":
    main()
