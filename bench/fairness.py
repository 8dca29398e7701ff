"""How long a one-page task waits behind a big crawl of the same spider: scraperq beside stock scrapy-redis.

Run from the project folder (PostgreSQL on loopback as for the tests; the benchmark
starts its own Redis and site)::

    .venv/bin/python bench/fairness.py [--pages 50000] [--tries 20] [--every 0.5]

Two workers crawl a local site of ``--pages`` linked pages (``bench/static_site.py``)
for one task. Once the crawl is under way (a tenth of the site fetched, at most 500
pages), ``--tries`` one-page tasks are submitted, one every ``--every`` seconds, as
the HTTP API does (``scraperq.submit.submit_urls``: a task row, a payload in
``generic:start_urls``). For each, the time from submission until its task is
``completed`` in the database, and until the site saw its request; p50, p95 and the
worst are printed. Stock scrapy-redis gets the same URLs pushed to its start URLs at
the same moments (completion there is the site seeing the request: it keeps no tasks).
Target: scraperq's p95 under 5 s while the big crawl still runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from politeness import Backends, Sites  # noqa: E402
from queue_throughput import BIN, ROOT, finish, start, wait  # noqa: E402

FOLLOW = ["-a", "follow=same-host", "-a", "depth=1000"]
STOCK = [
    "-s", "SCHEDULER=scrapy_redis.scheduler.Scheduler",
    "-s", "DUPEFILTER_CLASS=scrapy_redis.dupefilter.RFPDupeFilter",
    "-s", "SCHEDULER_PERSIST=True",
    "-s", "MAX_IDLE_TIME_BEFORE_CLOSE=0",  # never closes on its own: stopped when done
    "-s", "ITEM_PIPELINES={}",
]  # fmt: skip
COMMON = ["-s", "LOGSTATS_INTERVAL=3600"]


def seen(sites: Sites) -> dict[str, float]:
    with urllib.request.urlopen(sites.urls[0] + "/__seen__", timeout=10) as resp:
        return dict(json.load(resp))


def percentiles(values: list[float]) -> str:
    if not values:
        return "none finished"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * len(ordered) + 0.5)) - 1)]
    return f"p50 {statistics.median(ordered):6.2f} s   p95 {p95:6.2f} s   worst {ordered[-1]:6.2f} s"


def under_way(sites: Sites) -> int:
    return min(500, max(20, sites.pages // 10))


def run_scraperq(backends: Backends, sites: Sites, tries: int, every: float, logdir: Path) -> tuple[Any, ...]:
    from scraperq.storage import open_database
    from scraperq.storage.tasks import get_task
    from scraperq.submit import redis_client, submit_urls

    sites.reset()
    backends.redis.flushdb()
    args = [str(BIN / "scrapy"), "crawl", "generic", *FOLLOW, *COMMON]
    procs = [start(args, backends.env(), logdir / f"scraperq-{i}.log") for i in range(2)]
    settings = {"REDIS_URL": backends.redis_url, "SCRAPERQ_ALLOW_PRIVATE": "127.0.0.0/8"}
    db = open_database(backends.db_url)
    client = redis_client(settings)
    submit = {"spider": "generic", "priority": 0, "source": "api"}
    try:
        wait(lambda: backends.redis.zcard("generic:workers") == 2, 120, "the workers")
        submit_urls(db, client, [f"{sites.urls[0]}/p/0.html"], settings, **submit)
        wait(lambda: sites.served() >= under_way(sites), 300, "the big crawl under way")
        submitted: dict[int, tuple[str, float]] = {}
        for n in range(tries):
            path = f"/x/scraperq-{n}"
            [task_id] = submit_urls(db, client, [sites.urls[0] + path], settings, **submit)
            submitted[task_id] = (path, time.monotonic())
            time.sleep(every)
        left = sites.pages - sites.served()
        done: dict[int, float] = {}
        deadline = time.monotonic() + 600
        while len(done) < tries and time.monotonic() < deadline:
            for task_id in submitted.keys() - done.keys():
                if get_task(db, task_id)["status"] in ("completed", "failed"):
                    done[task_id] = time.monotonic()
            time.sleep(0.05)
        fetched = seen(sites)
    finally:
        finish(procs, stop=True)
        client.close()
        db.close()
    completed = [done[t] - when for t, (_, when) in submitted.items() if t in done]
    arrived = [fetched[path] - when for path, when in submitted.values() if path in fetched]
    return completed, arrived, left


def run_stock(backends: Backends, sites: Sites, tries: int, every: float, logdir: Path) -> tuple[Any, ...]:
    sites.reset()
    backends.redis.flushdb()
    args = [str(BIN / "scrapy"), "runspider", str(ROOT / "bench" / "stock_spider.py"), *FOLLOW, *STOCK, *COMMON]
    backends.redis.lpush("stock_generic:start_urls", f"{sites.urls[0]}/p/0.html")
    procs = [start(args, backends.env(), logdir / f"stock-{i}.log") for i in range(2)]
    try:
        wait(lambda: sites.served() >= under_way(sites), 300, "the big crawl under way")
        pushed: dict[str, float] = {}
        for n in range(tries):
            path = f"/x/stock-{n}"
            backends.redis.lpush("stock_generic:start_urls", sites.urls[0] + path)
            pushed[path] = time.monotonic()
            time.sleep(every)
        left = sites.pages - sites.served()
        wait(lambda: len(seen(sites)) >= tries, 900, "every one-page task fetched", interval=0.2)
        fetched = seen(sites)
    finally:
        finish(procs, stop=True)
    return [], [fetched[path] - when for path, when in pushed.items() if path in fetched], left


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=50_000, help="pages of the big crawl")
    parser.add_argument("--tries", type=int, default=20)
    parser.add_argument("--every", type=float, default=0.5, help="seconds between two one-page tasks")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    logdir = Path(tempfile.mkdtemp(prefix="scraperq-fairness-"))
    backends = Backends()
    sites = Sites(args.pages)
    try:
        ours = run_scraperq(backends, sites, args.tries, args.every, logdir)
        stock = run_stock(backends, sites, args.tries, args.every, logdir)
    finally:
        sites.close()
        backends.close()
    print(f"\none-page tasks submitted during a crawl of {args.pages} pages on two workers ({args.tries} tries)")
    print(f"scraperq, until completed:      {percentiles(ours[0])}   ({ours[2]} big pages left after the last try)")
    print(f"scraperq, until fetched:        {percentiles(ours[1])}")
    print(f"stock scrapy-redis, fetched:    {percentiles(stock[1])}   ({stock[2]} big pages left after the last try)")
    if args.keep_logs:
        print(f"logs: {logdir}")
    else:
        import shutil

        shutil.rmtree(logdir, ignore_errors=True)


if __name__ == "__main__":
    main()
