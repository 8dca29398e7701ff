"""Each per-source and ready spider also works as a queue worker fed from ``NAME:start_urls``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from tests.helpers import MockServer, free_port
from tests.mockserver.sources import API_KEY, STORIES_PER_PAGE
from tests.source_helpers import Worker, stored, wait_for_final_tasks

NO_DELAY = {"DOWNLOAD_DELAY": 0}


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


# spider, worker arguments, payload path, extra environment, items its task should count
CASES: list[tuple[str, Callable[[MockServer], list[str]], str, dict[str, str], int]] = [
    ("example_news", lambda m: [f"base_url={m('/news/')}", "max_pages=1"], "/news/kultur/", {}, STORIES_PER_PAGE),
    ("example_bestsellers", lambda m: [f"base_url={m('/shop/')}"], "/shop/bestsellers", {}, 4),
    ("feed", lambda m: [], "/feeds/atom.xml", {}, 2),
    ("feed", lambda m: ["follow=1", "only_new=1"], "/feeds/wordpress.xml", {}, 2),  # the entries' pages
    ("sitemap", lambda m: [], "/sitemaps/index.xml", {}, 5),
    ("jsonapi", lambda m: ["item_path=results"], "/api/numbers?page={page}", {}, 6),
    ("example_books_api", lambda m: [], "/api/books", {"EXAMPLE_BOOKS_API_KEY": API_KEY}, 4),
]


@pytest.mark.parametrize(("spider", "args", "path", "env", "items"), CASES, ids=[c[0] + c[2] for c in CASES])
def test_a_worker_crawls_what_is_pushed_to_its_queue(
    spider: str,
    args: Callable[[MockServer], list[str]],
    path: str,
    env: dict[str, str],
    items: int,
    sqlite_url: str,
    redis_url: str,
    mockserver: MockServer,
    workers: list[Worker],
) -> None:
    worker = Worker(sqlite_url, redis_url, spider, *args(mockserver), settings=NO_DELAY, **env)
    workers.append(worker)
    worker.push(mockserver(path))
    [task] = wait_for_final_tasks(sqlite_url, 1, min_items=items)
    assert (task["spider"], task["source"], task["status"], task["item_count"]) == (spider, "redis", "completed", items)


def test_a_payload_cannot_take_the_browser_around_the_ssrf_rules(
    sqlite_url: str, redis_url: str, mockserver: MockServer, workers: list[Worker]
) -> None:
    """Rendering asked for in payload meta: the page's own fetches still meet the SSRF gate."""
    worker = Worker(sqlite_url, redis_url, "generic", SCRAPERQ_ALLOW_PRIVATE="127.0.0.1/32")
    workers.append(worker)
    port = free_port()
    target = f"http://127.0.0.2:{port}/secret"  # nothing listens there; the gate refuses before trying
    meta = {
        "playwright": True,
        "render_wait_for": "#done",  # both of the page's attempts have settled
    }
    worker.push(json.dumps({"url": mockserver(f"/js/guard.html?target={target}"), "meta": meta}))
    [task] = wait_for_final_tasks(sqlite_url, 1)
    assert task["status"] == "completed"
    worker.stop()
    assert f"Refused a browser connection to 127.0.0.2:{port}: blocked: 127.0.0.2 is a loopback" in worker.stderr
    _, [result] = stored(sqlite_url)
    assert result["data"]["text"].split() == ["refused", "refused", "done"]
