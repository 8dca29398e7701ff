"""The ready spiders for formats every site shares: ``feed`` (RSS, Atom) and ``sitemap``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import MockServer
from tests.source_helpers import crawl_with, crawled_ok, stored


@pytest.fixture(scope="module")
def feed_crawl(tmp_path_factory: pytest.TempPathFactory, mockserver_session: MockServer) -> dict[str, Any]:
    """One ``feed`` crawl of an RSS feed, an Atom feed, a page advertising a feed and a plain article."""
    database = f"sqlite:///{tmp_path_factory.mktemp('feeds') / 'feeds.sqlite3'}"
    mockserver_session.reset()
    paths = ("/feeds/rss.xml", "/feeds/atom.xml", "/feeds/home.html", "/article")
    urls = ",".join(mockserver_session(p) for p in paths)
    proc = crawl_with(database, "feed", f"urls={urls}")
    # Not crawled_ok: the article's parse error is logged with its traceback, as Scrapy does.
    assert proc.returncode == 0, proc.stderr[-3000:]
    tasks, results = stored(database)
    by_url = {t["url"].removeprefix(mockserver_session.url): t for t in tasks}
    entries: dict[str, list[dict[str, Any]]] = {path: [] for path in by_url}
    for result in results:
        task_path = next(p for p, t in by_url.items() if t["id"] == result["task_id"])
        entries[task_path].append(result["data"])
    return {"tasks": by_url, "entries": entries, "base": mockserver_session.url}


def test_rss_items_become_entries_with_iso_dates(feed_crawl: dict[str, Any]) -> None:
    base = feed_crawl["base"]
    first, second = feed_crawl["entries"]["/feeds/rss.xml"]
    assert first == {
        "url": f"{base}/news/story/inland-1-1.html",
        "title": "River levels rise",
        "id": "story-1",
        "published": "2026-03-02T08:00:00+01:00",
        "updated": None,
        "author": "A. Writer",
        "summary": "Heavy rain <b>pushed</b> the river up.",
        "categories": ["Inland", "Weather"],
        "feed": f"{base}/feeds/rss.xml",
        "feed_title": "Valley News",
    }
    assert (second["title"], second["published"]) == ("Cup final tonight", "2026-03-03T18:30:00+00:00")


def test_an_rss_item_without_a_link_is_counted_invalid_not_stored(feed_crawl: dict[str, Any]) -> None:
    task = feed_crawl["tasks"]["/feeds/rss.xml"]
    assert (task["status"], task["item_count"], task["invalid_items"]) == ("completed", 2, 1)
    assert task["invalid_reason"] == "missing required field: url"


def test_atom_entries_become_entries(feed_crawl: dict[str, Any]) -> None:
    base = feed_crawl["base"]
    entries = feed_crawl["entries"]["/feeds/atom.xml"]
    assert [(e["url"], e["id"], e["published"], e["updated"], e["author"], e["categories"]) for e in entries] == [
        (
            f"{base}/news/story/kultur-1-1.html",
            "urn:uuid:1",
            "2026-03-04T19:00:00+00:00",
            "2026-03-05T09:00:00+00:00",
            "C. Critic",
            ["Kultur"],
        ),
        (f"{base}/news/story/kultur-1-2.html", "urn:uuid:2", None, "2026-03-06T10:00:00+01:00", None, None),
    ]
    assert {e["feed_title"] for e in entries} == {"Valley Culture"}


def test_a_page_that_advertises_a_feed_leads_to_its_entries(feed_crawl: dict[str, Any]) -> None:
    entries = feed_crawl["entries"]["/feeds/home.html"]
    assert [e["title"] for e in entries] == ["River levels rise", "Cup final tonight"]
    assert feed_crawl["tasks"]["/feeds/home.html"]["status"] == "completed"


def test_a_page_that_is_no_feed_fails_its_task_saying_so(feed_crawl: dict[str, Any]) -> None:
    task = feed_crawl["tasks"]["/article"]
    assert task["status"] == "failed"
    assert task["error"] == "parse error: NotAFeed: not an RSS or Atom feed (text/html; charset=utf-8)"


def test_a_sitemap_index_leads_to_every_url_of_its_sitemaps_gzipped_or_not(
    sqlite_url: str, mockserver: MockServer
) -> None:
    crawled_ok(crawl_with(sqlite_url, "sitemap", f"url={mockserver('/sitemaps/index.xml')}"))
    [task], results = stored(sqlite_url)
    assert (task["status"], task["item_count"]) == ("completed", 5)
    # The two sitemaps are fetched at once: their entries may be stored in either order.
    assert sorted((r["data"]["url"], r["data"]["lastmod"], r["data"]["sitemap"]) for r in results) == [
        (mockserver("/about"), "2025-01-10", mockserver("/sitemaps/pages.xml")),
        (mockserver("/contact"), None, mockserver("/sitemaps/pages.xml")),
        (mockserver("/news/"), "2026-03-01T10:00:00+00:00", mockserver("/sitemaps/pages.xml")),
        (mockserver("/news/story/inland-1-1.html"), "2026-03-02", mockserver("/sitemaps/news.xml.gz")),
        (mockserver("/news/story/sport-1-1.html"), "2026-03-03", mockserver("/sitemaps/news.xml.gz")),
    ]


def test_sitemap_since_and_allow_keep_recent_matching_urls(sqlite_url: str, mockserver: MockServer) -> None:
    index = mockserver("/sitemaps/index.xml")
    proc = crawl_with(sqlite_url, "sitemap", f"url={index}", "since=2026-03-02", "allow=/news")
    crawled_ok(proc)
    _, results = stored(sqlite_url)
    assert [r["data"]["url"] for r in results] == [
        mockserver("/news/story/inland-1-1.html"),
        mockserver("/news/story/sport-1-1.html"),
    ]
