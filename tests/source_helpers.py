"""What the per-source, feed, JSON API and rendering tests share: a crawl with settings, and what it stored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scraperq.storage import open_database
from scraperq.storage.results import iter_results
from scraperq.storage.tasks import list_tasks
from tests.helpers import BIN, crawl_env, run


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
    args = [str(BIN / "scrapy"), "crawl", spider]
    for arg in spider_args:
        args += ["-a", arg]
    for name, value in (settings or {}).items():
        args += ["-s", f"{name}={value}"]
    return run(args, crawl_env(database_url, **{"AUTOTHROTTLE_START_DELAY": "0", **env}), timeout=timeout)


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
