"""``jsonapi`` and the example books API: pagination, declared fields, and an API key that never leaks."""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.utils.test import get_crawler

from scraperq.errors import BadInput
from scraperq.spiders.jsonapi import API_KEY_HOST, ApiKeyMiddleware, JsonApiSpider
from scraperq.storage import open_database
from tests.helpers import MockServer
from tests.mockserver.sources import API_KEY
from tests.source_helpers import crawl_with, crawled_ok, stored


def test_cursor_pages_are_followed_and_records_become_declared_items(pg_url: str, mockserver: MockServer) -> None:
    proc = crawl_with(pg_url, "example_books_api", f"url={mockserver('/api/books')}", EXAMPLE_BOOKS_API_KEY=API_KEY)
    crawled_ok(proc)
    [task], results = stored(pg_url)
    assert [r["data"] for r in results] == [
        {"id": 1, "title": "The River", "author": "A. Writer", "rank": 1},
        {"id": 2, "title": "Night Trains", "author": "B. Author", "rank": 2},
        {"id": 4, "title": "Salt and Stone", "author": "D. Poet", "rank": 4},
        {"id": 5, "title": "Last Light", "author": "E. Novelist", "rank": 5},
    ]
    assert [p for p in mockserver.hits() if p.startswith("/api/")] == [
        "/api/books",
        "/api/books?cursor=2",
        "/api/books?cursor=4",
    ]
    # Book 3 has no title: refused and counted on the task.
    assert (task["status"], task["item_count"], task["invalid_items"]) == ("completed", 4, 1)
    assert task["invalid_reason"] == "missing required field: title"


def test_the_api_key_never_appears_in_logs_or_stored_data(pg_url: str, mockserver: MockServer) -> None:
    proc = crawl_with(
        pg_url,
        "example_books_api",
        f"url={mockserver('/api/books')}",
        EXAMPLE_BOOKS_API_KEY=API_KEY,
        LOG_LEVEL="DEBUG",
    )
    crawled_ok(proc)
    assert "Stored 4 results" in proc.stderr  # the API accepted the key
    assert API_KEY not in proc.stdout + proc.stderr
    with open_database(pg_url) as db, db.transaction() as cur:
        dumped = str(cur.execute("SELECT * FROM tasks").fetchall())
        dumped += str(cur.execute("SELECT * FROM results").fetchall())
    assert API_KEY not in dumped


def test_a_missing_key_variable_is_a_one_line_error_naming_it(sqlite_url: str, mockserver: MockServer) -> None:
    proc = crawl_with(sqlite_url, "example_books_api", f"url={mockserver('/api/books')}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "scrapy crawl: error: -a key_env='EXAMPLE_BOOKS_API_KEY': the environment variable"
        " EXAMPLE_BOOKS_API_KEY is not set"
    )
    assert mockserver.hits() == {}


def test_page_numbers_are_followed_until_a_page_has_no_records(sqlite_url: str, mockserver: MockServer) -> None:
    template = mockserver("/api/numbers?page={page}")
    crawled_ok(crawl_with(sqlite_url, "jsonapi", f"url={template}", "item_path=results"))
    [task], results = stored(sqlite_url)
    assert [r["data"] for r in results] == [{"n": n} for n in range(1, 7)]
    assert [p for p in mockserver.hits() if p.startswith("/api/")] == [f"/api/numbers?page={n}" for n in (1, 2, 3, 4)]
    assert task["item_count"] == 6


def test_max_pages_stops_pagination(sqlite_url: str, mockserver: MockServer) -> None:
    url = mockserver("/api/numbers")
    crawled_ok(crawl_with(sqlite_url, "jsonapi", f"url={url}", "paginate=page", "item_path=results", "max_pages=2"))
    _, results = stored(sqlite_url)
    assert [r["data"]["n"] for r in results] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"paginate": "sideways"}, "-a paginate='sideways': use one of none, page, cursor, next"),
        ({"item_path": "a.["}, "-a item_path='a.[': not a JMESPath expression"),
        ({"max_pages": "0"}, "-a max_pages='0': must be at least 1"),
        ({"key_header": "X-Key"}, "-a key_header='X-Key': has no effect without -a key_env=VARIABLE"),
    ],
)
def test_bad_arguments_are_refused_naming_the_argument(args: dict[str, str], message: str) -> None:
    with pytest.raises(BadInput) as caught:
        JsonApiSpider(url="https://api.example.org/v1", **args)
    assert str(caught.value).startswith(message)


def test_the_key_is_sent_to_the_api_host_only_and_taken_off_after_the_download(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOME_API_KEY", "s3cret")
    crawler = get_crawler(JsonApiSpider)
    crawler.spider = JsonApiSpider(url="https://api.example.org/v1", key_env="SOME_API_KEY", key_header="X-Api-Key")
    middleware = ApiKeyMiddleware.from_crawler(crawler)
    own = Request("https://api.example.org/v1?page=2", meta={API_KEY_HOST: "api.example.org"})
    other = Request("https://cdn.example.net/next", meta={API_KEY_HOST: "api.example.org"})
    middleware.process_request(own)
    middleware.process_request(other)
    assert own.headers.get("X-Api-Key") == b"s3cret"
    assert other.headers.get("X-Api-Key") is None
    middleware.process_response(own, None)  # type: ignore[arg-type]
    assert own.headers.get("X-Api-Key") is None  # a retry or redirect copies the request without it
