"""What the per-source, feed, JSON API and rendering tests share: a crawl with settings, and what it stored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scraperq.storage import open_database
from scraperq.storage.results import iter_results
from scraperq.storage.tasks import list_tasks
from tests.helpers import BIN, crawl_env, scrapy, spawn


def crawl_with(
    database_url: str,
    spider: str,
    *spider_args: str,
    settings: Mapping[str, object] | None = None,
    timeout: float = 120,
    **env: str,
) -> Any:
    """``scrapy crawl`` with ``-a`` arguments and ``-s`` settings (which beat a spider's own).

    AutoThrottle starts without a delay: the mock server answers at once, so the
    crawl is as fast as the site allows, as AutoThrottle intends.
    """
    args = ["crawl", spider]
    for arg in spider_args:
        args += ["-a", arg]
    for name, value in (settings or {}).items():
        args += ["-s", f"{name}={value}"]
    return scrapy(args, crawl_env(database_url, **{"AUTOTHROTTLE_START_DELAY": "0", **env}), timeout=timeout)


def crawled_ok(proc: Any) -> None:
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


def stored(database_url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(tasks oldest first, results in insertion order), read straight from the database."""
    with open_database(database_url) as db:
        return list(reversed(list_tasks(db, limit=1000))), list(iter_results(db))


def stat(proc: Any, name: str) -> Any:
    """A value from the stats Scrapy dumps at the end of a crawl's log, or None."""
    import ast
    import re

    match = re.search(rf"'{re.escape(name)}': ([^,\n]+)", proc.stderr)
    return ast.literal_eval(match.group(1)) if match else None


class Worker:
    """``scrapy crawl SPIDER -a worker=1``: a long-running queue worker, stopped with SIGTERM."""

    def __init__(
        self,
        database_url: str,
        redis_url: str,
        spider: str,
        *spider_args: str,
        settings: Mapping[str, object] | None = None,
        **env: str,
    ) -> None:
        import subprocess

        args = [str(BIN / "scrapy"), "crawl", spider, "-a", "worker=1"]
        for arg in spider_args:
            args += ["-a", arg]
        for name, value in (settings or {}).items():
            args += ["-s", f"{name}={value}"]
        environment = crawl_env(database_url, REDIS_URL=redis_url, **{"AUTOTHROTTLE_START_DELAY": "0", **env})
        self.spider = spider
        self.redis_url = redis_url
        self.proc = spawn(args, environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.stderr = ""

    def push(self, *payloads: str) -> None:
        import redis

        redis.Redis.from_url(self.redis_url).lpush(f"{self.spider}:start_urls", *payloads)

    def stop(self, timeout: float = 60) -> None:
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, self.stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.stderr = self.proc.communicate()
        self.stderr = self.stderr or ""


def wait_for_final_tasks(
    database_url: str, count: int, timeout: float = 90, *, min_items: int = 0
) -> list[dict[str, Any]]:
    """The tasks, once ``count`` of them are completed or failed (and hold ``min_items`` items in all).

    A task completes when its own page is parsed; items from pages it links to may still
    be arriving, so callers that count items say how many they wait for.
    """
    from tests.helpers import wait_for

    def final() -> list[dict[str, Any]] | None:
        tasks, _ = stored(database_url)
        done = [t for t in tasks if t["status"] in ("completed", "failed")]
        items = sum(int(t["item_count"]) for t in tasks)
        return tasks if len(done) >= count and items >= min_items else None

    return wait_for(final, timeout=timeout, interval=0.3, message=f"{count} finished tasks")
