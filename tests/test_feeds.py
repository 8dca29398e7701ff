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
    # Sorted: the two sitemaps are fetched at once, so either may be stored first.
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
    assert sorted(r["data"]["url"] for r in results) == [
        mockserver("/news/story/inland-1-1.html"),
        mockserver("/news/story/sport-1-1.html"),
    ]


# -- the shapes feeds take in the wild (tests/mockserver/sources.py), read by feedparser ----------


@pytest.fixture(scope="module")
def feed_shapes(tmp_path_factory: pytest.TempPathFactory, mockserver_session: MockServer) -> dict[str, Any]:
    """One ``feed`` crawl of RSS 0.91, RSS 1.0 (RDF), a WordPress RSS 2.0 and an Atom feed with xml:base."""
    database = f"sqlite:///{tmp_path_factory.mktemp('shapes') / 'shapes.sqlite3'}"
    paths = ("/feeds/rss091.xml", "/feeds/rdf.xml", "/feeds/wordpress.xml", "/feeds/atom-base.xml")
    crawled_ok(crawl_with(database, "feed", f"urls={','.join(mockserver_session(p) for p in paths)}"))
    _, results = stored(database)
    by_feed: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        by_feed.setdefault(result["data"]["feed"].removeprefix(mockserver_session.url), []).append(result["data"])
    return {"entries": by_feed, "base": mockserver_session.url}


def test_rss_091_in_latin_1_with_a_doctype(feed_shapes: dict[str, Any]) -> None:
    base = feed_shapes["base"]
    first, second = feed_shapes["entries"]["/feeds/rss091.xml"]
    assert (first["title"], first["url"], first["summary"]) == (
        "Café opens by the river",
        f"{base}/news/story/inland-1-1.html",
        "A new café.",
    )
    assert (second["feed_title"], second["published"]) == ("Valley Wire", None)


def test_rss_1_0_rdf_with_dublin_core(feed_shapes: dict[str, Any]) -> None:
    base = feed_shapes["base"]
    first, second = feed_shapes["entries"]["/feeds/rdf.xml"]
    assert (first["url"], first["published"], first["author"], first["categories"]) == (
        f"{base}/news/story/inland-1-1.html",
        "2026-03-02T08:00:00+01:00",
        "A. Writer",
        ["Inland"],
    )
    assert (second["id"], second["published"]) == ("/news/story/sport-1-2.html", "2026-03-03T00:00:00+00:00")


def test_wordpress_rss_with_cdata_content_encoded_and_a_broken_date(feed_shapes: dict[str, Any]) -> None:
    base = feed_shapes["base"]
    first, second = feed_shapes["entries"]["/feeds/wordpress.xml"]
    assert first["feed_title"] == "Valley <Blog>"
    assert (first["title"], first["author"], first["categories"]) == (
        "Rain & wind: the week ahead",
        "C. Critic",
        ["Kultur"],
    )
    assert first["url"] == f"{base}/news/story/kultur-1-1.html?utm_source=rss"
    assert first["published"] == "2026-03-04T19:00:00+00:00"
    assert first["summary"] == "<p>Short teaser&#8230;</p>"  # HTML, as feedparser sanitizes it
    assert (second["title"], second["published"]) == ("Gallery reopens", None)  # "sometime last week"


def test_atom_with_xml_base_and_relative_links(feed_shapes: dict[str, Any]) -> None:
    base = feed_shapes["base"]
    first, second = feed_shapes["entries"]["/feeds/atom-base.xml"]
    assert first["feed_title"] == "Valley Sport"  # an HTML title, as text
    assert (first["url"], first["title"], first["author"]) == (
        f"{base}/news/story/sport-1-1.html",
        "Derby day",
        "B. Sports",
    )
    assert (first["updated"], first["published"]) == ("2026-03-03T18:30:00-05:00", None)
    assert (second["url"], second["published"]) == (f"{base}/news/story/sport-1-2.html", "2026-02-27T10:00:00+00:00")


# -- follow=1: from entries to the articles -----------------------------------------------------


def test_feed_follow_stores_each_entrys_page_merged_with_the_entry(sqlite_url: str, mockserver: MockServer) -> None:
    feed = mockserver("/feeds/wordpress.xml")
    crawled_ok(crawl_with(sqlite_url, "feed", f"url={feed}", "follow=1"))
    [task], results = stored(sqlite_url)
    assert (task["status"], task["item_count"]) == ("completed", 2)
    pages = {r["data"]["url"]: r["data"] for r in results}
    first = pages[mockserver("/news/story/kultur-1-1.html?utm_source=rss")]
    # The page as the generic spider stores it ...
    assert "The lead of Kultur story 1.1." in first["text"]
    assert first["published"] == "2026-03-01T08:00:00+00:00"  # the page's own <time> wins over the entry's date
    # ... with what the entry said.
    assert (first["headline"], first["authors"], first["categories"]) == ("Kultur 1.1", ["Reporter 1"], ["Kultur"])
    assert first["listed_in"] == feed
    assert (first["entry"]["title"], first["entry"]["author"]) == ("Rain & wind: the week ahead", "C. Critic")
    second = pages[mockserver("/news/story/kultur-1-2.html")]
    assert second["published"] == "2026-03-02T08:00:00+00:00"
    assert second["entry"]["published"] is None  # the entry's date was unreadable; the page's is used
    assert {r["task_id"] for r in results} == {task["id"]}  # every page under the feed's task


def test_follow_filters_by_allow_and_since_before_fetching(sqlite_url: str, mockserver: MockServer) -> None:
    feed = mockserver("/feeds/atom-base.xml")
    crawled_ok(crawl_with(sqlite_url, "feed", f"url={feed}", "follow=1", "since=2026-03-01", "allow=/story/"))
    _, results = stored(sqlite_url)
    assert [r["data"]["url"] for r in results] == [mockserver("/news/story/sport-1-1.html")]
    hits = mockserver.hits()
    assert "/news/story/sport-1-2.html" not in hits  # filtered out before it was fetched


def test_sitemap_follow_stores_pages_with_lastmod(sqlite_url: str, mockserver: MockServer) -> None:
    index = mockserver("/sitemaps/index.xml")
    crawled_ok(crawl_with(sqlite_url, "sitemap", f"url={index}", "follow=1", "allow=/news/story/"))
    [task], results = stored(sqlite_url)
    assert task["status"] == "completed"
    pages = sorted((r["data"]["url"], r["data"]["headline"], r["data"]["entry"]["lastmod"]) for r in results)
    assert pages == [
        (mockserver("/news/story/inland-1-1.html"), "Inland 1.1", "2026-03-02"),
        (mockserver("/news/story/sport-1-1.html"), "Sport 1.1", "2026-03-03"),
    ]
    assert {r["data"]["listed_in"] for r in results} == {mockserver("/sitemaps/news.xml.gz")}


def test_a_bad_follow_argument_is_one_line_and_exit_status_2(sqlite_url: str, mockserver: MockServer) -> None:
    proc = crawl_with(sqlite_url, "feed", f"url={mockserver('/feeds/rss.xml')}", "follow=maybe")
    assert proc.returncode == 2
    assert "scrapy crawl: error: -a follow='maybe': use 1 or 0" in proc.stderr
