"""Every task ends, whatever its pages meet: a hostile server on loopback, real crawls.

One crawl per group of cases (each case is a task of its own), each checked against
the ledger's invariants: every task ended, its error in words, result URLs unique.
"""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import redis

from scraperq import settings as project
from scraperq.storage import open_database
from scraperq.storage.connection import utcnow
from scraperq.storage.tasks import NewTask, create_tasks, list_tasks
from tests.helpers import BIN, MockServer, crawl, crawl_env, scraperq, scrapy, spawn, wait_for

MAX_SIZE = 65536  # DOWNLOAD_MAXSIZE of these crawls: 64 KiB
TOO_BIG = 4 * MAX_SIZE


def tasks_by_url(database_url: str) -> dict[str, dict[str, Any]]:
    with open_database(database_url) as db:
        return {t["url"]: t for t in list_tasks(db, limit=1000)}


def result_urls(database_url: str) -> list[tuple[int, str]]:
    with open_database(database_url) as db, db.transaction() as cur:
        return [(int(r["task_id"]), r["url"]) for r in cur.execute("SELECT task_id, url FROM results").fetchall()]


def assert_ledger_holds(database_url: str, proc: Any) -> dict[str, dict[str, Any]]:
    """Every task ended, failed ones say why, and no page was stored twice for a task."""
    assert proc.returncode == 0, proc.stderr[-3000:]
    tasks = tasks_by_url(database_url)
    assert tasks
    unended = {url: t["status"] for url, t in tasks.items() if t["status"] not in ("completed", "failed")}
    assert unended == {}, proc.stderr[-3000:]
    assert all(t["error"] for t in tasks.values() if t["status"] == "failed")
    urls = result_urls(database_url)
    assert len(urls) == len(set(urls))
    return tasks


def location(to: str) -> str:
    return "/hostile/location?to=" + quote(to, safe="")


# The task's own page meets CASE and ends with ERROR (None: completes).
OWN_PAGE_CASES = {
    location("javascript:alert(1)"): "redirect to unsupported URL javascript:alert(1)",
    location("mailto:news@example.org"): "redirect to unsupported URL mailto:news@example.org",
    location("ftp://example.org/file"): "redirect to unsupported URL ftp://example.org/file",
    location("file:///etc/passwd"): "redirect to unsupported URL file:///etc/passwd",
    location("http://[::1"): "redirect to malformed URL http://[::1",
    "/hostile/endless": "more than 20 redirects",
    "/hostile/loop-a": "redirect loop: {url}/hostile/loop-b redirects back to {url}/hostile/loop-a",
    f"/hostile/big?size={TOO_BIG}": "response larger than 64 KiB",
    f"/hostile/chunked?size={TOO_BIG}": "response larger than 64 KiB",
    f"/hostile/gzip-bomb?size={TOO_BIG}": "response larger than 64 KiB after decompression",
    "/article?raise=dl-request": "RuntimeError: boom in process_request",
    "/article?raise=dl-response": "RuntimeError: boom in process_response",
    "/article?raise=sp-input": "parse error: RuntimeError: boom in process_spider_input",
    "/article?raise=sp-output": "parse error: RuntimeError: boom in process_spider_output",
    "/article?raise=pipeline": None,
    "/article": None,
}


def raising_components() -> dict[str, str]:
    """Settings that add tests/hostile_components.py to the project's own components."""
    return {
        "DOWNLOADER_MIDDLEWARES": json.dumps(
            {**project.DOWNLOADER_MIDDLEWARES, "tests.hostile_components.RaisingDownloaderMiddleware": 700}
        ),
        "SPIDER_MIDDLEWARES": json.dumps(
            {**project.SPIDER_MIDDLEWARES, "tests.hostile_components.RaisingSpiderMiddleware": 500}
        ),
        "ITEM_PIPELINES": json.dumps({**project.ITEM_PIPELINES, "tests.hostile_components.RaisingPipeline": 500}),
    }


def hostile_env(**extra: str) -> dict[str, str]:
    return {
        "DOWNLOAD_MAXSIZE": str(MAX_SIZE),
        "DOWNLOAD_WARNSIZE": "0",
        "SCRAPERQ_RETRY_TIMES": "0",
        **raising_components(),
        **extra,
    }


def test_every_own_page_case_ends_its_task_in_words(pg_url: str, mockserver: MockServer) -> None:
    database_url = pg_url
    urls = [mockserver(path) for path in OWN_PAGE_CASES]
    proc = crawl(database_url, "generic", "urls=" + ",".join(urls), **hostile_env())
    tasks = assert_ledger_holds(database_url, proc)
    got = {path: tasks[mockserver(path)]["error"] for path in OWN_PAGE_CASES}
    want = {path: error and error.format(url=mockserver.url) for path, error in OWN_PAGE_CASES.items()}
    assert got == want
    for path, error in OWN_PAGE_CASES.items():
        task = tasks[mockserver(path)]
        assert task["status"] == ("failed" if error else "completed")
        assert (task["pages_fetched"], task["pages_failed"]) == ((0, 1) if error else (1, 0))
    stored = tasks[mockserver("/article?raise=pipeline")]
    assert stored["item_count"] == 0
    assert stored["page_errors"] == [
        {"url": mockserver("/article?raise=pipeline"), "error": "item not stored: RuntimeError: boom in process_item"}
    ]


def test_a_follow_crawl_counts_every_page_it_led_to(sqlite_url: str, mockserver: MockServer) -> None:
    bad = [
        "/site/1.html",
        location("javascript:alert(1)"),
        "/hostile/endless",
        "/status/404",
        f"/hostile/gzip-bomb?size={TOO_BIG}",
        "/article?raise=sp-output",
        "/article?raise=pipeline",
        "/hostile/stall?delay=30",
    ]
    start = mockserver("/hostile/links?to=" + quote(",".join(bad), safe=""))
    # A short download timeout for the stall; it starts once the task's own page was parsed, so the
    # crawl's first parse (which loads the text extractor) does not hold up other downloads past it.
    env = hostile_env(DOWNLOAD_TIMEOUT="4")  # loose enough for a loaded machine; the stall outlasts it
    proc = crawl(sqlite_url, "generic", f"url={start}", "follow=same-host", "depth=1", **env)
    [task] = assert_ledger_holds(sqlite_url, proc).values()
    assert (task["status"], task["error"]) == ("completed", None)
    # Fetched: its own page, /site/1.html and the page whose item was refused; failed: the other six.
    assert (task["pages_fetched"], task["pages_failed"], task["item_count"]) == (3, 6, 2)
    errors = {(e["url"], e["error"]) for e in task["page_errors"]}
    assert len(errors) == len(task["page_errors"]) == 5  # the first five of seven
    assert errors <= {
        (mockserver(location("javascript:alert(1)")), "redirect to unsupported URL javascript:alert(1)"),
        (mockserver("/hostile/endless"), "more than 20 redirects"),
        (mockserver("/status/404"), "HTTP 404"),
        (mockserver(f"/hostile/gzip-bomb?size={TOO_BIG}"), "response larger than 64 KiB after decompression"),
        (mockserver("/article?raise=sp-output"), "parse error: RuntimeError: boom in process_spider_output"),
        (mockserver("/article?raise=pipeline"), "item not stored: RuntimeError: boom in process_item"),
        (mockserver("/hostile/stall?delay=30"), "timed out"),
    }


def test_shared_queue_tasks_end_and_a_lost_one_comes_back(
    pg_url: str, redis_url: str, mockserver: MockServer, tmp_path: Any
) -> None:
    """A worker on the shared queue: tasks end when their last entry is acknowledged, and a task
    whose work nobody holds (here: a row left running, nothing in Redis) is queued again and ends."""
    with open_database(pg_url) as db:
        [lost] = create_tasks(db, [NewTask(spider="generic", url=mockserver("/data.json"))])
        with db.transaction() as cur:
            cur.execute(
                "UPDATE tasks SET status = 'running', updated_at = %s WHERE id = %s",
                (utcnow() - timedelta(seconds=30), lost),
            )
    bad = ["/site/1.html", location("javascript:alert(1)"), "/hostile/endless", "/status/404"]
    follow = mockserver("/hostile/links?to=" + quote(",".join(bad), safe=""))
    own = [mockserver(f"/hostile/gzip-bomb?size={TOO_BIG}"), mockserver("/hostile/loop-a")]
    env = {
        **hostile_env(),
        "SCRAPERQ_LEASE_SECONDS": "1.5",
        "SCRAPERQ_QUEUE_POLL_SECONDS": "0.1",
    }
    enqueued = scraperq(pg_url, "enqueue", follow, *own, "--spider", "generic", REDIS_URL=redis_url)
    assert enqueued.returncode == 0, enqueued.stderr
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed below
    # Each redirect is a round trip through Redis: a short chain keeps the test quick (and the words follow it).
    args = [str(BIN / "scrapy"), "crawl", "generic", "-a", "follow=same-host", "-a", "depth=1"]
    args += ["-s", "REDIRECT_MAX_TIMES=3"]
    worker = spawn(args, crawl_env(pg_url, REDIS_URL=redis_url, **env), stdout=log, stderr=subprocess.STDOUT)
    try:

        def all_ended() -> bool:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            tasks = tasks_by_url(pg_url).values()
            return len(tasks) == 4 and all(t["status"] in ("completed", "failed") for t in tasks)

        wait_for(all_ended, timeout=90, message="every task to end")
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        log.close()
    tasks = tasks_by_url(pg_url)
    # Back and done: on a fresh Redis the first worker's queue rebuild queues it again before the
    # sweeper's turn (tests/test_sweeper.py has the sweeper's own account of it).
    assert tasks[mockserver("/data.json")]["status"] == "completed"
    assert tasks[own[0]]["error"] == "response larger than 64 KiB after decompression"
    assert tasks[own[1]]["error"].startswith("redirect loop: ")
    followed = tasks[follow]
    assert (followed["status"], followed["pages_fetched"], followed["pages_failed"]) == ("completed", 2, 3)
    assert sorted(e["error"] for e in followed["page_errors"]) == [
        "HTTP 404",
        "more than 3 redirects",
        "redirect to unsupported URL javascript:alert(1)",
    ]
    urls = result_urls(pg_url)
    assert len(urls) == len(set(urls))
    assert redis.Redis.from_url(redis_url).hlen("generic:outstanding") == 0


def test_a_crawl_that_stops_early_fails_the_task_it_left_unfinished(sqlite_url: str, mockserver: MockServer) -> None:
    # Without Redis the pages still waiting in the crawl's memory are gone once it stops.
    start = mockserver("/site/0.html?pages=63")
    args = ["crawl", "generic", "-a", f"url={start}", "-a", "follow=same-host", "-a", "depth=4"]
    proc = scrapy([*args, "-s", "CLOSESPIDER_PAGECOUNT=3", "-s", "CONCURRENT_REQUESTS=2"], crawl_env(sqlite_url))
    [task] = assert_ledger_holds(sqlite_url, proc).values()
    assert task["status"] == "failed"
    assert task["error"].startswith("the crawl ended (closespider_pagecount) before ")
    assert task["error"].endswith(" of its pages were fetched")
    assert task["pages_fetched"] >= 3
