"""Only-new crawls: a daily news crawl stores each article once, and again only when it changed.

The mock server's ``/daily/`` site shows day 1 (stories a, b) or day 2 (a unchanged,
b edited with a later dateModified, c new). Crawls are real ``scrapy crawl``
processes on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import subprocess
import urllib.request
from typing import Any

import pytest

from scraperq.onlynew import content_hash, page_claim
from scraperq.storage.results import url_key
from tests.helpers import BIN, ROOT, MockServer, crawl_env
from tests.source_helpers import crawl_with, crawled_ok, stat, stored


def next_day(mockserver: MockServer) -> None:
    urllib.request.urlopen(mockserver("/daily/__day__?n=2"), timeout=5).close()


def stories(database_url: str) -> list[tuple[str, str]]:
    """(story, the day its text was written) of every stored article, in storing order."""
    _, results = stored(database_url)
    found = []
    for result in results:
        day = re.search(r"as told on (day \d)", result["data"]["text"])
        found.append((result["data"]["headline"], day.group(1) if day else "?"))
    return found


def test_a_daily_feed_crawl_stores_new_and_changed_articles_once(db_url: str, mockserver: MockServer) -> None:
    feed = mockserver("/daily/feed.xml")
    crawled_ok(crawl_with(db_url, "feed", f"url={feed}", "follow=1", "refresh=changed"))
    assert sorted(stories(db_url)) == [("Story a", "day 1"), ("Story b", "day 1")]

    next_day(mockserver)
    mockserver.reset_hits()
    second = crawl_with(db_url, "feed", f"url={feed}", "follow=1", "refresh=changed")
    crawled_ok(second)
    assert sorted(stories(db_url)[2:]) == [("Story b", "day 2"), ("Story c", "day 1")]
    tasks, _ = stored(db_url)
    assert [t["item_count"] for t in tasks] == [2, 2]

    # A third run the same day stores nothing: a is unchanged, b and c are stored as they are.
    crawled_ok(crawl_with(db_url, "feed", f"url={feed}", "follow=1", "refresh=changed"))
    assert len(stories(db_url)) == 4


def test_only_new_skips_stored_pages_before_fetching_them(sqlite_url: str, mockserver: MockServer) -> None:
    feed = mockserver("/daily/feed.xml")
    crawled_ok(crawl_with(sqlite_url, "feed", f"url={feed}", "follow=1", "only_new=1"))
    next_day(mockserver)
    mockserver.reset_hits()
    second = crawl_with(sqlite_url, "feed", f"url={feed}", "follow=1", "only_new=1")
    crawled_ok(second)
    assert sorted(s for s, _ in stories(sqlite_url)) == [
        "Story a",
        "Story b",
        "Story c",
    ]  # b changed, but only new counts
    hits = mockserver.hits()
    assert ("/daily/a.html" in hits, "/daily/b.html" in hits, hits.get("/daily/c.html")) == (False, False, 1)
    assert stat(second, "scraperq/only_new/skipped") == 2


def test_the_setting_turns_it_on_for_every_crawl(sqlite_url: str, mockserver: MockServer) -> None:
    page = mockserver("/daily/a.html")
    for _ in range(2):
        crawled_ok(crawl_with(sqlite_url, "generic", f"url={page}", SCRAPERQ_ONLY_NEW="1"))
    crawled_ok(crawl_with(sqlite_url, "generic", f"url={page}", "only_new=0", SCRAPERQ_ONLY_NEW="1"))
    tasks, results = stored(sqlite_url)
    assert [t["status"] for t in tasks] == ["completed"] * 3  # fetched every time: it is the task's own page
    assert len(results) == 2  # stored the first time, and when only_new=0 said so


def test_two_workers_at_once_store_each_article_once(pg_url: str, mockserver: MockServer) -> None:
    feed = mockserver("/daily/feed.xml")
    next_day(mockserver)
    args = [str(BIN / "scrapy"), "crawl", "feed", "-a", f"url={feed}", "-a", "follow=1", "-a", "only_new=1"]
    env = crawl_env(pg_url, AUTOTHROTTLE_START_DELAY="0")
    procs = [subprocess.Popen(args, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
    assert sorted(s for s, _ in stories(pg_url)) == ["Story a", "Story b", "Story c"]


def test_a_bad_refresh_argument_is_one_line_and_exit_status_2(sqlite_url: str, mockserver: MockServer) -> None:
    proc = crawl_with(sqlite_url, "generic", f"url={mockserver('/daily/a.html')}", "refresh=always")
    assert proc.returncode == 2
    assert "scrapy crawl: error: -a refresh='always': use one of never, changed" in proc.stderr


# -- which page an item stands for --------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://news.example/a?utm_source=rss&id=1", "https://news.example/a?id=1"),
        ("https://news.example/a?b=2&a=1", "https://news.example/a?a=1&b=2"),
        ("https://NEWS.example/a#comments", "https://news.example/a"),
    ],
)
def test_url_keys_ignore_tracking_order_case_and_fragments(a: str, b: str) -> None:
    assert url_key(a) == url_key(b)


def test_a_claim_uses_the_canonical_unless_it_is_the_home_page() -> None:
    page: dict[str, Any] = {"url": "https://news.example/a?x=1", "canonical": "https://news.example/a", "text": "t"}
    claim = page_claim(page, page["url"], refresh=False)
    assert claim is not None and claim.key == url_key("https://news.example/a")
    page["canonical"] = "https://news.example/"
    claim = page_claim(page, page["url"], refresh=False)
    assert claim is not None and claim.key == url_key(page["url"])


def test_an_item_without_its_own_url_claims_no_page() -> None:
    assert page_claim({"n": 1}, "https://api.example/records?page=1", refresh=False) is None


def test_content_hash_follows_the_text_not_the_page_around_it() -> None:
    one = {"headline": "H", "text": "Body.", "links": ["https://a.example/"], "size": 10}
    assert content_hash(one) == content_hash({**one, "links": [], "size": 99})
    assert content_hash(one) != content_hash({**one, "text": "Body, edited."})
