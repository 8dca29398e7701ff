"""Requests per second a site sees from 1, 2 and 4 workers: scraperq's shared limits beside stock scrapy-redis.

Run from the project folder (PostgreSQL on loopback as for the tests; the benchmark
starts its own Redis and sites)::

    .venv/bin/python bench/politeness.py [--pages 30] [--sites 20] [--site-pages 15] [--workers 1,2,4]

One site: every worker crawls the same local site (``bench/static_site.py``, ``--pages``
linked pages) with ``DOWNLOAD_DELAY=0.2`` and the rest of the project's settings.
The site counts what it serves: requests per second = (pages - 1) / (last - first).
Target: 5 requests/s within 10% whatever the number of workers. Stock scrapy-redis
(``bench/stock_spider.py``) keeps the delay per worker, so it shows about N x 5.

Many sites: ``--sites`` sites at once (127.0.0.2 and up, ``--site-pages`` pages each,
each answering 0.3 s late) with the same delay and 4 requests at a time per worker:
one worker is held back by its own concurrency (4 / 0.3 s), so the total rate grows
with workers while no site goes over 5 requests/s (the busiest site's rate is printed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from queue_throughput import BIN, PG_ADMIN, ROOT, _pings, finish, free_port, start, wait  # noqa: E402

DELAY = 0.2
FOLLOW = ["-a", "follow=same-host", "-a", "depth=100"]
COMMON = ["-s", f"DOWNLOAD_DELAY={DELAY}", "-s", "LOGSTATS_INTERVAL=3600"]
STOCK = [
    "-s", "SCHEDULER=scrapy_redis.scheduler.Scheduler",
    "-s", "DUPEFILTER_CLASS=scrapy_redis.dupefilter.RFPDupeFilter",
    "-s", "SCHEDULER_PERSIST=True",
    "-s", "MAX_IDLE_TIME_BEFORE_CLOSE=0",  # never closes on its own: stopped when done
    "-s", "ITEM_PIPELINES={}",
]  # fmt: skip


class Sites:
    """One static_site process serving ``hosts`` sites (0: one site on 127.0.0.1)."""

    def __init__(self, pages: int, hosts: int = 0, latency: float = 0.0) -> None:
        args = [sys.executable, str(ROOT / "bench" / "static_site.py"), "--pages", str(pages)]
        args += ["--hosts", str(hosts), "--latency", str(latency)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.urls = [self.proc.stdout.readline().strip() for _ in range(max(1, hosts))]
        self.pages = pages

    def stats(self) -> list[dict[str, float]]:
        found = []
        for url in self.urls:
            with urllib.request.urlopen(url + "/__stats__", timeout=10) as resp:
                found.append(json.load(resp))
        return found

    def reset(self) -> None:
        for url in self.urls:
            urllib.request.urlopen(url + "/__reset__", timeout=10).close()

    def served(self) -> int:
        return sum(int(s["pages"]) for s in self.stats())

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Backends:
    def __init__(self) -> None:
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

    def env(self) -> dict[str, str]:
        import os

        env = {k: v for k, v in os.environ.items() if not k.startswith(("SCRAPERQ_", "SCRAPY_", "REDIS_"))}
        for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            env.pop(proxy, None)
        env.update(
            DATABASE_URL=self.db_url,
            REDIS_URL=self.redis_url,
            SCRAPERQ_ALLOW_PRIVATE="127.0.0.0/8",
            PYTHONPATH=str(ROOT),
        )
        return env

    def close(self) -> None:
        self.redis.close()
        self.redis_proc.terminate()
        self.redis_proc.wait(timeout=10)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')


def opened(procs: list[Any], timeout: float = 300) -> None:
    """Wait until each stock worker's log says its spider opened (it polls start URLs from then on)."""
    wait(lambda: all(b"Spider opened" in Path(p.log.name).read_bytes() for p in procs), timeout, "the workers to open")
    time.sleep(1)


def rate(stat: dict[str, float]) -> float:
    span = stat["last"] - stat["first"]
    return (stat["pages"] - 1) / span if span > 0 and stat["pages"] > 1 else 0.0


def run(kind: str, backends: Backends, sites: Sites, workers: int, extra: list[str], logdir: Path) -> list[dict]:
    """Crawl every site with ``workers`` processes of ``kind`` (scraperq or stock); the sites' counts."""
    sites.reset()
    backends.redis.flushdb()
    if kind == "scraperq":
        args = [str(BIN / "scrapy"), "crawl", "generic", *FOLLOW, *COMMON, *extra]
        key = "generic:start_urls"
    else:
        args = [str(BIN / "scrapy"), "runspider", str(ROOT / "bench" / "stock_spider.py"), *FOLLOW, *COMMON]
        args += [*STOCK, *extra]
        key = "stock_generic:start_urls"
    procs = [
        start(args, backends.env(), logdir / f"{kind}-{workers}-{i}-{time.time():.0f}.log") for i in range(workers)
    ]
    try:
        if kind == "scraperq":
            wait(lambda: backends.redis.zcard("generic:workers") == workers, 120, "the workers")
        else:
            # Every worker open (and polling its start URLs) before they appear.
            opened(procs)
        # Every page at once, so that each worker always has work for each site (a link tree
        # would leave stock scrapy-redis workers idle until their next poll, not polite).
        urls = [f"{url}/p/{n}.html" for n in range(sites.pages) for url in sites.urls]
        backends.redis.lpush(key, *urls)
        total = sites.pages * len(sites.urls)
        wait(lambda: sites.served() >= total, 900, "every page fetched", interval=0.2)
    finally:
        finish(procs, stop=True)
    return sites.stats()


def one_site(backends: Backends, pages: int, counts: list[int], logdir: Path) -> None:
    sites = Sites(pages)
    print(f"\none site, {pages} pages, DOWNLOAD_DELAY={DELAY} (target {1 / DELAY:.1f} requests/s within 10%)")
    print(f"{'workers':>8}{'scraperq req/s':>16}{'x target':>10}{'stock scrapy-redis req/s':>26}")
    try:
        for n in counts:
            ours = rate(run("scraperq", backends, sites, n, [], logdir)[0])
            stock = rate(run("stock", backends, sites, n, [], logdir)[0])
            print(f"{n:>8}{ours:>16.2f}{ours * DELAY:>10.2f}{stock:>26.2f}", flush=True)
    finally:
        sites.close()


def many_sites(backends: Backends, hosts: int, pages: int, counts: list[int], logdir: Path) -> None:
    sites = Sites(pages, hosts=hosts, latency=0.3)
    extra = ["-s", "CONCURRENT_REQUESTS=4"]
    print(
        f"\n{hosts} sites at once, {pages} pages each, 0.3 s per answer, DOWNLOAD_DELAY={DELAY}, 4 at a time per worker"
    )
    print(
        f"{'workers':>8}{'scraperq total req/s':>22}{'busiest site':>14}{'stock total req/s':>19}{'busiest site':>14}"
    )
    try:
        for n in counts:
            row = []
            for kind in ("scraperq", "stock"):
                stats = run(kind, backends, sites, n, extra, logdir)
                first = min(s["first"] for s in stats)
                last = max(s["last"] for s in stats)
                served = sum(s["pages"] for s in stats)
                row += [served / (last - first) if last > first else 0.0, max(rate(s) for s in stats)]
            print(f"{n:>8}{row[0]:>22.1f}{row[1]:>14.2f}{row[2]:>19.1f}{row[3]:>14.2f}", flush=True)
    finally:
        sites.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=30, help="pages of the one site")
    parser.add_argument("--sites", type=int, default=20, help="sites at once in the second part (0 skips it)")
    parser.add_argument("--site-pages", type=int, default=15, help="pages of each of those sites")
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    logdir = Path(tempfile.mkdtemp(prefix="scraperq-politeness-"))
    backends = Backends()
    try:
        one_site(backends, args.pages, counts, logdir)
        if args.sites:
            many_sites(backends, args.sites, args.site_pages, counts, logdir)
    finally:
        backends.close()
    if args.keep_logs:
        print(f"\nlogs: {logdir}")
    else:
        import shutil

        shutil.rmtree(logdir, ignore_errors=True)


if __name__ == "__main__":
    main()
