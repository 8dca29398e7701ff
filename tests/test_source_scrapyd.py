"""Per-source and ready spiders on real Scrapyd nodes: listed from the egg, run as jobs."""

from __future__ import annotations

from typing import Any

from tests.helpers import MockServer, wait_for
from tests.source_helpers import stored

SPIDERS = {"example_news", "example_bestsellers", "example_books_api", "feed", "sitemap", "jsonapi"}


def test_scrapyd_lists_the_source_spiders_including_the_packaged_source_files(scrapyd: list[Any]) -> None:
    for node in scrapyd:
        assert SPIDERS <= set(node.call("listspiders.json?project=scraperq")["spiders"])


def test_source_spiders_and_rendering_run_as_scrapyd_jobs(
    scrapyd: list[Any], pg_url: str, mockserver: MockServer
) -> None:
    jobs = [
        ("example_news", {"base_url": mockserver("/news/"), "category": "Sport", "max_pages": "1"}, 2),
        ("example_bestsellers", {"base_url": mockserver("/shop/")}, 4),
        ("feed", {"url": mockserver("/feeds/rss.xml"), "follow": "1"}, 2),  # the entries' pages
        ("sitemap", {"url": mockserver("/sitemaps/index.xml")}, 5),
        ("jsonapi", {"url": mockserver("/api/numbers?page={page}"), "item_path": "results"}, 6),
        ("generic", {"url": mockserver("/js/app.html?id=3"), "render": "auto"}, 1),
    ]
    scheduled: list[tuple[Any, str]] = []
    for number, (spider, args, _) in enumerate(jobs):
        node = scrapyd[number % len(scrapyd)]
        answer = node.call("schedule.json", project="scraperq", spider=spider, setting="DOWNLOAD_DELAY=0", **args)
        assert answer["status"] == "ok", answer
        scheduled.append((node, answer["jobid"]))

    # A task is completed once its own page is parsed; pages it links to may still be
    # adding items, so wait for the jobs themselves to finish before counting.
    def jobs_finished() -> bool:
        for node, job_id in scheduled:
            listing = node.call("listjobs.json?project=scraperq")
            if job_id not in {job["id"] for job in listing["finished"]}:
                return False
        return True

    wait_for(jobs_finished, timeout=180, interval=0.5, message="every Scrapyd job to finish")
    tasks, _ = stored(pg_url)
    assert {t["spider"]: (t["status"], t["item_count"]) for t in tasks} == {
        spider: ("completed", items) for spider, _, items in jobs
    }
    assert all(t["job_id"] for t in tasks)  # each task knows the Scrapyd job that ran it
    _, results = stored(pg_url)
    [rendered] = [r for r in results if r["spider"] == "generic"]
    assert rendered["data"]["title"] == "Rendered story 3"
    articles = [r["data"] for r in results if r["spider"] == "feed"]
    assert sorted(a["entry"]["title"] for a in articles) == ["Cup final tonight", "River levels rise"]
