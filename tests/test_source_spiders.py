"""Per-source spiders end to end: the Python example (news by category) and a YAML source.

The news crawl runs once for the module (a real ``scrapy crawl`` against the
mock server's news site); each test checks one thing a user would see in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import MockServer
from tests.mockserver.sources import STORIES_PER_PAGE
from tests.source_helpers import crawl_with, crawled_ok, stored

NO_DELAY = {"DOWNLOAD_DELAY": 0}  # the example's own delay is for real sites


@pytest.fixture(scope="module")
def news_crawl(tmp_path_factory: pytest.TempPathFactory, mockserver_session: MockServer) -> dict[str, Any]:
    """``example_news`` over the three sections of the fixture site, two listing pages each."""
    database = f"sqlite:///{tmp_path_factory.mktemp('news') / 'news.sqlite3'}"
    mockserver_session.reset()
    proc = crawl_with(
        database, "example_news", f"base_url={mockserver_session('/news/')}", "max_pages=2", settings=NO_DELAY
    )
    crawled_ok(proc)
    tasks, results = stored(database)
    return {"tasks": tasks, "results": results, "hits": mockserver_session.hits(), "base": mockserver_session.url}


def test_each_story_of_each_category_page_is_stored_once(news_crawl: dict[str, Any]) -> None:
    base = news_crawl["base"]
    expected = {
        f"{base}/news/story/{section}-{page}-{i}.html"
        for section in ("inland", "sport", "kultur")
        for page in (1, 2)
        for i in range(1, STORIES_PER_PAGE + 1)
    }
    urls = [r["url"] for r in news_crawl["results"]]
    assert sorted(urls) == sorted(expected)


def test_each_category_page_is_a_task_that_counts_its_stories(news_crawl: dict[str, Any]) -> None:
    base = news_crawl["base"]
    tasks = news_crawl["tasks"]
    assert sorted(t["url"] for t in tasks) == sorted(f"{base}/news/{s}/" for s in ("inland", "sport", "kultur"))
    assert {t["status"] for t in tasks} == {"completed"}
    assert [t["item_count"] for t in tasks] == [2 * STORIES_PER_PAGE] * 3
    by_task = {t["id"]: t["url"] for t in tasks}
    for result in news_crawl["results"]:
        section = result["url"].rsplit("/", 1)[1].split("-")[0]
        assert by_task[result["task_id"]] == f"{base}/news/{section}/"


def test_fields_are_read_with_the_sources_selectors(news_crawl: dict[str, Any]) -> None:
    story = next(r["data"] for r in news_crawl["results"] if r["url"].endswith("/sport-2-1.html"))
    assert story == {
        "url": f"{news_crawl['base']}/news/story/sport-2-1.html",
        "title": "Sport story 2.1",
        "published": "2026-03-01T08:00:00Z",
        "author": "Reporter 1",
        "summary": "The lead of Sport story 2.1.",
        "body": "First paragraph.\n\nSecond paragraph.",
        "source_category": "Sport",
        "category": "sports",
    }


def test_source_category_names_are_mapped_to_ours(news_crawl: dict[str, Any]) -> None:
    pairs = {(r["data"]["source_category"], r["data"]["category"]) for r in news_crawl["results"]}
    assert pairs == {("Inland", "national"), ("Sport", "sports"), ("Kultur", "culture")}


def test_pagination_stops_at_max_pages(news_crawl: dict[str, Any]) -> None:
    hits = news_crawl["hits"]
    assert "/news/inland/?page=2" in hits
    assert not any("page=3" in path for path in hits)


def test_a_story_without_its_required_title_is_counted_on_its_task_and_not_stored(news_crawl: dict[str, Any]) -> None:
    assert "/news/story/inland-1-3.html" in news_crawl["hits"]
    assert not any(r["url"].endswith("/inland-1-3.html") for r in news_crawl["results"])
    invalid = {t["url"].rsplit("/", 2)[1]: (t["invalid_items"], t["invalid_reason"]) for t in news_crawl["tasks"]}
    assert invalid == {
        "inland": (1, "missing required field: title"),
        "sport": (0, None),
        "kultur": (0, None),
    }


def test_robots_txt_and_links_to_other_sites_are_not_followed(news_crawl: dict[str, Any]) -> None:
    hits = news_crawl["hits"]
    assert "/robots.txt" in hits
    assert not any(path.startswith("/private/") for path in hits)  # Disallow: /private/
    assert "/news/story/offsite-1-1.html" not in hits  # the link to localhost: another site


def test_category_argument_crawls_only_that_category(sqlite_url: str, mockserver: MockServer) -> None:
    proc = crawl_with(
        sqlite_url,
        "example_news",
        f"base_url={mockserver('/news/')}",
        "category=Sport",
        "max_pages=1",
        settings=NO_DELAY,
    )
    crawled_ok(proc)
    tasks, results = stored(sqlite_url)
    assert [t["url"] for t in tasks] == [mockserver("/news/sport/")]
    assert {r["data"]["category"] for r in results} == {"sports"}
    assert len(results) == STORIES_PER_PAGE


def test_unknown_category_argument_is_a_one_line_error(sqlite_url: str, mockserver: MockServer) -> None:
    proc = crawl_with(sqlite_url, "example_news", "category=Weather")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "scrapy crawl: error: -a category=Weather: not a category of example_news (it has: Inland, Sport, Kultur)"
    )


def test_yaml_source_reads_items_written_on_its_listing_pages(pg_url: str, mockserver: MockServer) -> None:
    proc = crawl_with(pg_url, "example_bestsellers", f"base_url={mockserver('/shop/')}", settings=NO_DELAY)
    crawled_ok(proc)
    [task], results = stored(pg_url)
    assert [(r["data"]["rank"], r["data"]["title"], r["data"]["url"]) for r in results] == [
        ("1", "The River", mockserver("/shop/book/1")),
        ("2", "Night Trains", mockserver("/shop/book/2")),
        ("4", "Salt and Stone", mockserver("/shop/book/4")),
        ("5", "Last Light", mockserver("/shop/book/5")),
    ]
    # Book 3 has an empty title, which the source file marks required.
    assert (task["status"], task["item_count"], task["invalid_items"]) == ("completed", 4, 1)


def test_a_sources_user_agent_is_what_the_site_sees(sqlite_url: str, mockserver: MockServer, tmp_path: Path) -> None:
    (tmp_path / "agent_check.yaml").write_text(
        f"start_urls: ['{mockserver('/echo/agent')}']\n"
        "fields: {seen: h1}\n"
        "politeness: {user_agent: 'valley-bot/2.0 (+https://example.org/bot)', concurrency: 1}\n"
    )
    crawled_ok(crawl_with(sqlite_url, "agent_check", SCRAPERQ_SOURCES_DIR=str(tmp_path)))
    _, [result] = stored(sqlite_url)
    assert result["data"]["seen"] == "valley-bot/2.0 (+https://example.org/bot)"


def test_a_sources_delay_spaces_its_requests_to_the_site(
    sqlite_url: str, mockserver: MockServer, tmp_path: Path
) -> None:
    urls = ", ".join(f"'{mockserver(f'/echo/agent?n={n}')}'" for n in range(4))
    (tmp_path / "slow_source.yaml").write_text(
        f"start_urls: [{urls}]\nfields: {{seen: h1}}\npoliteness: {{download_delay: 0.4, concurrency: 1}}\n"
    )
    crawled_ok(crawl_with(sqlite_url, "slow_source", SCRAPERQ_SOURCES_DIR=str(tmp_path)))
    times = [when for path, when in mockserver.log() if path.startswith("/echo/")]
    assert len(times) == 4
    # Scrapy randomizes each delay between 0.5 and 1.5 times the setting: never closer than 0.2 s.
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.19
