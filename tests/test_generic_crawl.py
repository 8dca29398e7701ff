"""``scrapy crawl generic`` end to end: real crawl processes against the mock server."""

from __future__ import annotations

from typing import Any

import pytest

from scraperq.storage import open_database
from scraperq.storage.results import iter_results
from scraperq.storage.tasks import list_tasks
from tests.helpers import MockServer, crawl, crawl_env, scrapy
from tests.mockserver.pages import PDF_BYTES, PNG_BYTES


def stored(database_url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(tasks oldest first, results in insertion order), read straight from the database."""
    with open_database(database_url) as db:
        return list(reversed(list_tasks(db, limit=1000))), list(iter_results(db))


def crawled_ok(proc: Any) -> None:
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


def test_one_page_stores_one_result_and_one_completed_task(db_url: str, mockserver: MockServer) -> None:
    crawled_ok(crawl(db_url, "generic", f"url={mockserver('/article')}"))
    tasks, results = stored(db_url)
    assert [(t["spider"], t["url"], t["status"], t["attempts"], t["item_count"]) for t in tasks] == [
        ("generic", mockserver("/article"), "completed", 1, 1)
    ]
    assert tasks[0]["started_at"] is not None and tasks[0]["finished_at"] is not None
    [result] = results
    assert (result["task_id"], result["spider"], result["url"]) == (tasks[0]["id"], "generic", mockserver("/article"))
    data = result["data"]
    assert data["title"] == "River levels rise in the valley"
    assert data["canonical"] == mockserver("/article")
    assert data["opengraph"]["og:type"] == "article"
    assert data["json_ld"][0]["@type"] == "NewsArticle"
    assert data["text"].startswith("River levels rise in the valley\nHeavy rain over the weekend")


def test_same_host_follows_links_on_that_host_only(sqlite_url: str, mockserver: MockServer) -> None:
    crawled_ok(crawl(sqlite_url, "generic", f"url={mockserver('/links')}", "follow=same-host"))
    tasks, results = stored(sqlite_url)
    assert len(tasks) == 1
    assert sorted(r["url"] for r in results) == sorted(
        [mockserver("/links"), mockserver("/site/1.html"), mockserver("/site/2.html?x=keep")]
    )
    # The followed pages belong to the task of the page that led to them.
    assert {r["task_id"] for r in results} == {tasks[0]["id"]}
    assert tasks[0]["item_count"] == 3
    assert not any(path.endswith("/site/3.html") for path in mockserver.hits())  # the localhost link


def test_allow_regex_limits_followed_links(sqlite_url: str, mockserver: MockServer) -> None:
    crawled_ok(crawl(sqlite_url, "generic", f"url={mockserver('/links')}", "follow=same-host", r"allow=x=keep$"))
    _, results = stored(sqlite_url)
    assert sorted(r["url"] for r in results) == sorted([mockserver("/links"), mockserver("/site/2.html?x=keep")])


def test_follow_none_fetches_only_the_given_page(sqlite_url: str, mockserver: MockServer) -> None:
    crawled_ok(crawl(sqlite_url, "generic", f"url={mockserver('/links')}"))
    _, results = stored(sqlite_url)
    assert [r["url"] for r in results] == [mockserver("/links")]
    assert set(mockserver.hits()) == {"/robots.txt", "/links"}


@pytest.mark.parametrize(("depth", "pages"), [(1, [0, 1, 2]), (2, [0, 1, 2, 3, 4, 5, 6])])
def test_depth_limits_how_far_links_are_followed(
    db_url: str, mockserver: MockServer, depth: int, pages: list[int]
) -> None:
    start = mockserver("/site/0.html?pages=31")
    crawled_ok(crawl(db_url, "generic", f"url={start}", "follow=same-domain", f"depth={depth}"))
    tasks, results = stored(db_url)
    # Every page once: the "Home" link back to the start page is not fetched again.
    assert sorted(r["url"] for r in results) == sorted(mockserver(f"/site/{n}.html?pages=31") for n in pages)
    assert mockserver.hits()["/site/0.html?pages=31"] == 1
    assert [(t["status"], t["item_count"]) for t in tasks] == [("completed", len(pages))]


def test_same_domain_uses_the_registrable_domain(sqlite_url: str, mockserver: MockServer) -> None:
    # The mock server doubles as the crawl's HTTP proxy, so made-up host names reach it
    # and no traffic leaves the machine; SCRAPERQ_ALLOW_PRIVATE=1 skips resolving them.
    proxy = {"http_proxy": mockserver.url, "SCRAPERQ_ALLOW_PRIVATE": "1"}
    start = "http://www.example.co.uk/scope"
    crawled_ok(crawl(sqlite_url, "generic", f"url={start}", "follow=same-domain", **proxy))
    _, results = stored(sqlite_url)
    assert sorted(r["url"] for r in results) == [
        "http://shop.example.co.uk/scope/sub-domain",
        "http://www.example.co.uk/scope",
        "http://www.example.co.uk/scope/same-host",
    ]
    fetched = set(mockserver.hits())
    assert "http://other.co.uk/scope/other-domain" not in fetched
    assert "http://www.example.com/scope/other-suffix" not in fetched


def test_redirect_stores_the_final_url(sqlite_url: str, mockserver: MockServer) -> None:
    start = mockserver("/redirect?to=/article")
    crawled_ok(crawl(sqlite_url, "generic", f"url={start}"))
    tasks, results = stored(sqlite_url)
    assert [(t["url"], t["status"]) for t in tasks] == [(start, "completed")]
    assert [(r["url"], r["data"]["url"], r["data"]["status"]) for r in results] == [
        (mockserver("/article"), mockserver("/article"), 200)
    ]


def test_non_html_files_give_content_type_and_size(sqlite_url: str, mockserver: MockServer) -> None:
    urls = [mockserver("/file.pdf"), mockserver("/image.png"), mockserver("/data.json")]
    crawled_ok(crawl(sqlite_url, "generic", "urls=" + ",".join(urls)))
    tasks, results = stored(sqlite_url)
    assert [t["status"] for t in tasks] == ["completed"] * 3
    by_url = {r["url"]: r["data"] for r in results}
    assert by_url[urls[0]] == {"url": urls[0], "status": 200, "content_type": "application/pdf", "size": len(PDF_BYTES)}
    assert by_url[urls[1]]["content_type"] == "image/png"
    assert by_url[urls[1]]["size"] == len(PNG_BYTES)
    assert by_url[urls[2]]["content_type"] == "application/json"


def test_scrapy_list_shows_the_generic_spider() -> None:
    proc = scrapy(["list"], crawl_env("sqlite:///unused.sqlite3"))
    assert proc.returncode == 0, proc.stderr
    assert "generic" in proc.stdout.split()


# -- bad input: one line, exit status 2, nothing stored is lost ---------------------------------


@pytest.fixture(scope="module")
def database_with_a_result(tmp_path_factory: pytest.TempPathFactory, mockserver_session: MockServer) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('kept') / 'kept.sqlite3'}"
    crawled_ok(crawl(url, "generic", f"url={mockserver_session('/article')}"))
    return url


BAD_CRAWLS = {
    "invalid URL": (["generic", "-a", "url=notaurl"], {}, "invalid URL 'notaurl'"),
    "invalid URL, Twisted crawler process": (
        ["generic", "-a", "url=notaurl", "-s", "FORCE_CRAWLER_PROCESS=True"],
        {},
        "invalid URL 'notaurl'",
    ),
    "ftp URL": (["generic", "-a", "url=ftp://example.org/x"], {}, "scheme 'ftp'"),
    "malformed depth": (["generic", "-a", "url=http://127.0.0.1/", "-a", "depth=two"], {}, "-a depth='two'"),
    "negative depth": (["generic", "-a", "url=http://127.0.0.1/", "-a", "depth=-1"], {}, "-a depth='-1'"),
    "bad follow": (["generic", "-a", "url=http://127.0.0.1/", "-a", "follow=everything"], {}, "-a follow="),
    "bad allow": (
        ["generic", "-a", "url=http://127.0.0.1/", "-a", "follow=same-host", "-a", "allow=(["],
        {},
        "not a regular expression",
    ),
    "unreachable database": (
        ["generic", "-a", "url=http://127.0.0.1/"],
        {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x"},
        "cannot connect to database postgresql://postgres@127.0.0.1:1/x",
    ),
    "malformed setting in the environment": (
        ["generic", "-a", "url=http://127.0.0.1/"],
        {"SCRAPERQ_BATCH_SIZE": "abc"},
        "SCRAPERQ_BATCH_SIZE='abc' is not a valid int",
    ),
    "no URL": (["generic"], {}, "nothing to crawl"),
    "unknown spider": (["nosuch"], {}, "unknown spider 'nosuch'"),
}


@pytest.mark.parametrize("case", list(BAD_CRAWLS))
def test_bad_input_is_one_line_with_exit_status_2(case: str, database_with_a_result: str) -> None:
    args, env, expected = BAD_CRAWLS[case]
    proc = scrapy(["crawl", *args], crawl_env(database_with_a_result, **env), timeout=60)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    last_line = proc.stderr.strip().splitlines()[-1]
    assert last_line.startswith("scrapy crawl: error: ")
    assert expected in last_line
    tasks, results = stored(database_with_a_result)
    assert [t["status"] for t in tasks] == ["completed"]
    assert len(results) == 1
