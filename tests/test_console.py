"""The console driven in a real browser: headless Chromium through Playwright, on a laptop and on a phone.

One scheduler daemon (leading, with its HTTP API and a token), real PostgreSQL,
Redis and the session's two Scrapyd nodes; one browser for the module and one
page per screen size, reused by every test. Each test does what an operator
does (click, type, confirm) and checks what they would see, on both pages: the
1440x900 laptop and the 390x844 phone, where the document must be no wider
than the screen. Every page's console errors are collected and must stay none.
Screenshots of each step are kept in ``test-artifacts/console/`` (ignored by git).
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
import requests

from scraperq.storage import open_database
from scraperq.storage.connection import Database, utcnow
from scraperq.storage.results import ResultRow, insert_results
from scraperq.storage.tasks import NewTask, create_tasks, mark_completed, mark_failed, mark_running
from tests.helpers import ROOT, wait_for

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "console"
TOKEN = "console-" + uuid.uuid4().hex
# Each screen in another zone, so times in "the viewer's zone" are told apart from UTC and from each other.
VIEWS = {
    "laptop": {"viewport": {"width": 1440, "height": 900}, "timezone_id": "America/New_York"},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "timezone_id": "Asia/Kolkata",
        "is_mobile": True,
        "has_touch": True,
    },
}


@pytest.fixture(scope="module")
def console(pg_server_url: str, redis_claim: Any, scrapyd_nodes: list[Any]) -> Iterator[Any]:
    """A leading daemon with its API on a free port, on emptied tables and an emptied Redis db."""
    from scheduler.api import serve
    from scheduler.app import build_app
    from scheduler.settings import ProjectSettings

    redis_claim.renew()
    redis.Redis.from_url(redis_claim.url).flushdb()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", pg_server_url)
        db = open_database(pg_server_url)
        with db.transaction() as cur:
            cur.execute("DROP SCHEMA public CASCADE")
            cur.execute("CREATE SCHEMA public")
        settings = ProjectSettings.load(
            {
                "DATABASE_URL": pg_server_url,
                "REDIS_URL": redis_claim.url,
                "SCRAPERQ_API_BIND": "127.0.0.1:0",
                "SCRAPERQ_API_TOKEN": TOKEN,
                "SCRAPYD_NODES": ",".join(node.url for node in scrapyd_nodes),
                "SCRAPYD_TIMEOUT": "10",
                "SCRAPERQ_CONSOLE_REFRESH": "0.5",  # what the page shows follows the data within a second
            }
        )
        app = build_app(settings)  # migrates
        server = serve(settings, app)
        loop = threading.Thread(target=app.daemon.run, name="console-daemon")
        loop.start()
        wait_for(app.daemon.leadership.is_leader.is_set, timeout=30, message="the daemon to lead")
        session = requests.Session()
        session.trust_env = False
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        yield Console(server.url, db, session, redis_claim.url, scrapyd_nodes)
        session.close()
        server.stop()
        app.daemon.request_stop()
        loop.join(timeout=60)
        app.close()
        db.close()
    for node in scrapyd_nodes:  # a cancelled crawl may still be closing
        wait_for(lambda n=node: n.call("daemonstatus.json")["running"] == 0, timeout=60, message="jobs to stop")


class Console:
    def __init__(self, url: str, db: Database, session: requests.Session, redis_url: str, nodes: list[Any]) -> None:
        self.url, self.db, self.session, self.redis_url, self.nodes = url, db, session, redis_url, nodes
        self.redis = redis.Redis.from_url(redis_url, decode_responses=True)

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, self.url + path, timeout=30, **kwargs)
        assert response.status_code < 400, response.text
        return response.json() if response.content else None


@pytest.fixture(scope="module")
def crawls(console: Console, mockserver_session: Any) -> dict[str, int]:
    """Two real crawls run through schedules as the module starts, so they have ended by the time a test
    looks: one that stores an article, one whose only task fails with HTTP 404. Their job run ids, by name."""
    targets = {"article": mockserver_session("/article"), "missing": mockserver_session("/status/404")}
    started = {}
    for name, url in targets.items():
        body = {"name": name, "spider": "generic", "interval_seconds": 86400, "args": {"url": url}}
        console.api("POST", "/api/schedules", json=body)
        started[name] = console.api("POST", f"/api/schedules/{name}/run")["run"]["id"]
    return started


def ended_run(console: Console, run_id: int) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        run = next(j for j in console.api("GET", "/api/jobs?limit=1000")["jobs"] if j["id"] == run_id)
        return run if run["status"] in ("finished", "failed", "cancelled") and run["finish_reason"] else None

    try:
        return wait_for(ended, timeout=90, interval=0.3, message=f"job run {run_id} to end")
    except AssertionError:
        log = console.session.get(f"{console.url}/api/jobs/{run_id}/log", timeout=30).json()
        raise AssertionError(f"job run {run_id} did not end; its log ends: {log.get('text', log)[-1500:]}") from None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


# The innermost elements that reach past the screen's right edge, to say what makes a page too wide.
_WIDER_THAN_SCREEN = """
Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > innerWidth + 0.5)
  .filter(e => !Array.from(e.children).some(c => c.getBoundingClientRect().right > innerWidth + 0.5))
  .slice(0, 5)
  .map(e => e.tagName.toLowerCase() + '.' + e.className + ' ' + JSON.stringify(e.textContent.slice(0, 40)))
"""


class View:
    """One screen: its page, opened once with the token as basic-auth password, and its console errors."""

    def __init__(self, name: str, page: Any) -> None:
        self.name, self.page = name, page
        self.errors: list[str] = []
        self.shots = 0
        self.left_at = ""  # the page's address when another view's test took over
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", lambda d: d.accept())  # "Remove schedule x?" and the like: the operator says yes

    def expect_refusal(self, status: int) -> None:
        """The browser reports every 4xx answer as a console error: take out the one the test asked for."""
        refusal = f"Failed to load resource: the server responded with a status of {status}"
        found = [e for e in self.errors if e.startswith(refusal)]
        assert len(found) == 1, self.errors
        self.errors.remove(found[0])

    def shot(self, step: str, section: str | None = None) -> None:
        """The whole page, or one section of it, as a PNG in test-artifacts/console/."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        path = str(ARTIFACTS / f"{self.name}-{self.shots:02d}-{step}.png")
        if section is None:
            self.page.screenshot(path=path, full_page=True)
        else:
            self.page.locator(f"section#{section}").screenshot(path=path)

    def fits(self) -> None:
        width = self.page.evaluate("document.documentElement.scrollWidth")
        viewport = self.page.viewport_size["width"]
        if width > viewport:
            wide = self.page.evaluate(_WIDER_THAN_SCREEN)
            raise AssertionError(f"the page is {width} px wide on a {viewport} px screen; too wide: {wide}")

    def part(self, name: str) -> Any:
        return self.page.locator(f"#part-{name}")


@pytest.fixture(scope="module")
def views(console: Console, browser: Any) -> Iterator[dict[str, View]]:
    opened = {}
    contexts = []
    for name, options in VIEWS.items():
        context = browser.new_context(
            http_credentials={"username": "operator", "password": TOKEN}, accept_downloads=True, **options
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        opened[name] = View(name, page)
        page.goto(console.url + "/")
    yield opened
    for context in contexts:
        context.close()


@pytest.fixture(params=list(VIEWS))
def view(request: pytest.FixtureRequest, views: dict[str, View], console: Console) -> Iterator[View]:
    shown = views[request.param]
    for other in views.values():  # one page polls at a time: the machine is small and shared
        if other is not shown and other.page.url != "about:blank":
            other.left_at = other.page.url
            other.page.goto("about:blank")
    if shown.page.url == "about:blank":
        shown.page.goto(shown.left_at)
        expect(shown.page.locator("[data-live]")).to_contain_text("live")
    yield shown
    shown.fits() if shown.name == "phone" else None
    assert shown.errors == [], shown.errors


def expect(locator: Any) -> Any:
    return playwright_sync.expect(locator)


# -- the page ----------------------------------------------------------------------------------


def test_the_console_opens_with_the_token_and_loads_nothing_from_elsewhere(
    console: Console, crawls: dict, view: View
) -> None:
    page = view.page
    expect(page.locator("h2", has_text="Schedules")).to_be_visible()
    assert page.locator('meta[name="scraperq-token"]').count() == 0  # read by the script, then removed
    assert page.evaluate("sessionStorage.getItem('scraperq-token')") == TOKEN
    origins = page.evaluate("performance.getEntriesByType('resource').map(e => new URL(e.name).origin)")
    assert set(origins) <= {console.url}
    expect(page.locator("[data-live]")).to_contain_text("live")
    view.shot("opened")


# -- submitting URLs ------------------------------------------------------------------------------


def test_submitted_urls_become_tasks_that_move_on_the_page_as_workers_take_them(console: Console, view: View) -> None:
    page = view.page
    form = page.locator('[data-form="submit"]')
    urls = [f"https://example.com/{view.name}/{i}" for i in range(2)]
    form.locator('textarea[name="urls"]').fill("\n".join(urls))
    form.locator('select[name="spider"]').select_option("generic")
    form.locator('input[name="priority"]').fill("7")
    form.locator('button[type="submit"]').click()
    expect(page.locator("[data-flash]")).to_contain_text("Queued 2 URLs for generic")
    tasks = view.part("tasks")
    rows = [tasks.locator("tr", has_text=url) for url in urls]
    for row in rows:
        expect(row.locator('td[data-label="status"]')).to_have_text("pending")
    payloads = [json.loads(p) for p in console.redis.lrange("generic:start_urls", 0, -1)]
    assert {(p["url"], p["priority"]) for p in payloads} >= {(url, 7) for url in urls}
    queued = view.part("queues").locator("tr", has_text="generic").locator('td[data-label="start URLs"]')
    expect(queued).to_have_text(str(len(payloads)))  # the queue depth, refreshed without a reload
    view.shot("submitted", "tasks")

    # A worker takes the first and finishes it: the page shows each step on its own.
    task_id = int(rows[0].locator('td[data-label="id"]').inner_text().replace(",", ""))
    with console.db.transaction() as cur:
        mark_running(cur, task_id, 1, utcnow())
    expect(rows[0].locator('td[data-label="status"]')).to_have_text("running")
    with console.db.transaction() as cur:
        mark_completed(cur, task_id, 1, utcnow())
    expect(rows[0].locator('td[data-label="status"]')).to_have_text("completed")
    expect(rows[1].locator('td[data-label="status"]')).to_have_text("pending")


def test_refused_urls_are_shown_as_the_api_words_them_and_nothing_is_queued(console: Console, view: View) -> None:
    page = view.page
    before = console.redis.llen("generic:start_urls")
    page.locator('[data-form="submit"] textarea[name="urls"]').fill("https://example.com/fine\nftp://example.com/x")
    page.locator('[data-form="submit"] button[type="submit"]').click()
    flash = page.locator("[data-flash]")
    expect(flash).to_have_class(re.compile(r"\bbad\b"))
    expect(flash).to_have_text(
        "urls[1]: invalid URL 'ftp://example.com/x': scheme 'ftp', only http and https are allowed"
    )
    assert console.redis.llen("generic:start_urls") == before
    view.shot("refused", "submit")
    view.expect_refusal(422)


# -- schedules ------------------------------------------------------------------------------------


def _next_fire(console: Console, name: str) -> datetime:
    return datetime.fromisoformat(console.api("GET", f"/api/schedules/{name}")["next_fire_time"])


def _viewer_text(fire: datetime, view: View) -> str:
    """What the page's script writes for a time in the viewer's zone (HH:MM:SS today, else MM-DD HH:MM)."""
    local = fire.astimezone(ZoneInfo(VIEWS[view.name]["timezone_id"]))
    now = datetime.now(local.tzinfo)
    return local.strftime("%H:%M:%S") if local.date() == now.date() else local.strftime("%m-%d %H:%M")


def test_add_edit_pause_resume_and_remove_a_schedule(console: Console, view: View) -> None:
    page = view.page
    name = f"books-{view.name}"
    page.locator("[data-schedule-details] summary").click()
    form = page.locator('[data-form="schedule"]')
    form.locator('input[name="name"]').fill(name)
    form.locator('select[name="spider"]').select_option("generic")
    form.locator('input[name="cron"]').fill("30 6 * * *")
    form.locator('input[name="timezone"]').fill("Asia/Seoul")
    form.locator('textarea[name="args"]').fill("url=https://example.com/books")
    form.locator('textarea[name="settings"]').fill("DOWNLOAD_DELAY=1")
    form.locator('button[type="submit"]').click()
    expect(page.locator("[data-flash]")).to_contain_text(f"Added schedule {name}")
    row = view.part("schedules").locator("tr", has_text=name)
    next_run = row.locator('td[data-label="next run"]')
    expect(next_run.locator(".zone")).to_contain_text("06:30 Asia/Seoul")
    zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")  # Asia/Kolkata is Asia/Calcutta
    expect(next_run.locator("time.viewer")).to_have_text(
        f"your time: {_viewer_text(_next_fire(console, name), view)} ({zone})"
    )
    view.shot("schedule-added", "schedules")

    row.get_by_role("button", name="Edit").click()
    expect(form.locator('input[name="name"]')).to_have_value(name)
    expect(form.locator('textarea[name="args"]')).to_have_value("url=https://example.com/books")
    form.locator('input[name="cron"]').fill("45 7 * * 1-5")
    form.locator('textarea[name="settings"]').fill("")  # removed: sent as null
    form.locator('button[type="submit"]').click()
    expect(row.locator('td[data-label="when"]')).to_have_text("cron '45 7 * * 1-5' Asia/Seoul")
    expect(next_run.locator(".zone")).to_contain_text("07:45 Asia/Seoul")
    shown = console.api("GET", f"/api/schedules/{name}")
    assert (shown["cron"], shown["settings"], shown["args"]) == (
        "45 7 * * 1-5",
        {},
        {"url": "https://example.com/books"},
    )

    row.get_by_role("button", name="Pause").click()
    expect(row.locator('td[data-label="state"]')).to_have_text("paused")
    expect(next_run).to_have_text("-")
    row.get_by_role("button", name="Resume").click()
    expect(row.locator('td[data-label="state"]')).to_have_text("active")
    expect(next_run.locator(".zone")).to_contain_text("07:45 Asia/Seoul")
    view.shot("schedule-edited", "schedules")

    row.get_by_role("button", name="Remove").click()  # the confirmation is accepted
    expect(row).to_have_count(0)
    assert name not in [s["name"] for s in console.api("GET", "/api/schedules")["schedules"]]


def test_a_refused_schedule_names_the_field(console: Console, view: View) -> None:
    page = view.page
    form = page.locator('[data-form="schedule"]')
    if not page.locator("[data-schedule-details]").evaluate("d => d.open"):
        page.locator("[data-schedule-details] summary").click()
    form.locator('input[name="name"]').fill(f"never-{view.name}")
    form.locator('input[name="cron"]').fill("0 0 30 2 *")
    form.locator('input[name="timezone"]').fill("UTC")
    form.locator('textarea[name="args"]').fill("url=https://example.com/")
    form.locator('button[type="submit"]').click()
    expect(page.locator("[data-flash]")).to_contain_text("never fires")
    expect(view.part("schedules").locator("tr", has_text=f"never-{view.name}")).to_have_count(0)
    view.expect_refusal(422)
    form.locator('input[name="cron"]').fill("")


# -- jobs: run now, cancel, log, stats ----------------------------------------------------------------


def test_run_now_then_cancel_the_running_job(console: Console, view: View, mockserver_session: Any) -> None:
    page = view.page
    name = f"slow-{view.name}"
    args = {"url": mockserver_session(f"/slow?delay=20&id={view.name}")}
    console.api(
        "POST", "/api/schedules", json={"name": name, "spider": "generic", "interval_seconds": 86400, "args": args}
    )
    schedule_row = view.part("schedules").locator("tr", has_text=name)
    schedule_row.get_by_role("button", name="Run now").click()
    expect(page.locator("[data-flash]")).to_contain_text(f"Run of {name} requested")
    job_row = view.part("jobs").locator("tr", has_text=name)
    expect(job_row.locator('td[data-label="status"]')).to_have_text("running", timeout=45_000)
    run_id = int(job_row.locator('td[data-label="id"]').inner_text())
    view.shot("job-running", "jobs")

    job_row.get_by_role("button", name="Cancel").click()
    expect(page.locator("[data-flash]")).to_contain_text(f"Job run {run_id} cancelled on http://127.0.0.1:")
    expect(job_row.locator('td[data-label="status"]')).to_have_text("cancelled")
    expect(job_row.get_by_role("button", name="Cancel")).to_have_count(0)
    run = next(j for j in console.api("GET", f"/api/jobs?schedule={name}")["jobs"] if j["id"] == run_id)
    assert run["status"] == "cancelled" and run["finished_at"]

    job_row.get_by_role("button", name="Log").click()
    detail = view.part("job")
    expect(detail.locator("h3").first).to_have_text(f"Job run {run_id}")
    expect(detail.locator("pre.log")).to_contain_text("Spider opened")
    expect(detail.locator("pre.log")).to_contain_text("Received SIGINT, shutting down gracefully")
    view.shot("job-cancelled-log", "jobs")
    detail.get_by_role("button", name="Close").click()
    expect(detail.locator("[data-job-detail]")).to_have_count(0)


def test_a_finished_job_shows_its_stats_and_the_end_of_its_log(console: Console, crawls: dict, view: View) -> None:
    run = ended_run(console, crawls["article"])
    assert run["status"] == "finished"
    page = view.page
    row = view.part("jobs").locator("tr", has_text="article")
    expect(row.locator('td[data-label="items"]')).to_have_text(str(run["item_count"]))
    expect(row.locator('td[data-label="pages"]')).to_have_text(str(run["pages"]))
    row.get_by_role("button", name="Log").click()
    detail = view.part("job")
    expect(detail.locator("pre.log")).to_contain_text("Spider closed (finished)")
    facts = dict(zip(detail.locator("dt").all_text_contents(), detail.locator("dd").all_text_contents(), strict=True))
    assert (facts["finish reason"], facts["items"], facts["pages"]) == ("finished", "1", str(run["pages"]))
    expect(detail.locator("[data-log-stats]")).to_contain_text(f"items {run['item_count']}")
    assert run["item_count"] == 1
    view.shot("job-log", "jobs")
    detail.get_by_role("button", name="Close").click()
    del page


def test_a_job_whose_only_task_failed_shows_the_error(console: Console, crawls: dict, view: View) -> None:
    run = ended_run(console, crawls["missing"])
    assert (run["status"], run["task_count"], run["tasks_failed"], run["item_count"]) == ("finished", 1, 1, 0)
    row = view.part("jobs").locator("tr", has_text="missing")
    expect(row.locator('td[data-label="status"]')).to_have_text("finished: 1 of 1 tasks failed")
    expect(row.locator('td[data-label="status"] .s')).to_have_class(re.compile(r"\bs-failed\b"))
    expect(row.locator('td[data-label="error"]')).to_have_text("HTTP 404")


# -- queues and dead letters -------------------------------------------------------------------------


def _letters(spider: str, count: int) -> list[str]:
    return [
        json.dumps({"payload": f"https://example.com/dead/{spider}/{i}", "reason": "test", "spider": spider})
        for i in range(count)
    ]


def test_requeue_and_purge_dead_letters(console: Console, view: View) -> None:
    spider = {"laptop": "feed", "phone": "sitemap"}[view.name]
    console.redis.lpush(f"{spider}:dead", *_letters(spider, 3))
    row = view.part("queues").locator("tr", has_text=spider)
    expect(row.locator('td[data-label="dead letters"]')).to_have_text("3")
    view.shot("dead-letters", "queues")
    row.get_by_role("button", name="Requeue").click()
    expect(view.page.locator("[data-flash]")).to_contain_text(f"Requeued 3 dead letters of {spider}")
    expect(row.locator('td[data-label="dead letters"]')).to_have_text("0")
    expect(row.locator('td[data-label="start URLs"]')).to_have_text("3")
    # Oldest letter first back on the queue: workers take from the right, so in their first order.
    assert sorted(console.redis.lrange(f"{spider}:start_urls", 0, -1)) == [
        f"https://example.com/dead/{spider}/{i}" for i in (0, 1, 2)
    ]
    console.redis.lpush(f"{spider}:dead", *_letters(spider, 2))
    expect(row.locator('td[data-label="dead letters"]')).to_have_text("2")
    row.get_by_role("button", name="Purge").click()
    expect(view.page.locator("[data-flash]")).to_contain_text(f"Purged 2 dead letters of {spider}")
    expect(row.locator('td[data-label="dead letters"]')).to_have_text("0")
    assert console.redis.llen(f"{spider}:dead") == 0


# -- filters, pages, export ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listed(console: Console) -> dict[str, list[int]]:
    """30 jsonapi tasks, every third failed, each with a result."""
    ids = create_tasks(
        console.db, [NewTask(spider="jsonapi", url=f"https://api.example.com/item/{i}") for i in range(30)]
    )
    now = utcnow()
    with console.db.transaction() as cur:
        for task_id in ids[::3]:
            mark_failed(cur, task_id, 1, f"HTTP 500 on {task_id}", now)
        insert_results(
            cur,
            [
                ResultRow(
                    t, "jsonapi", f"https://api.example.com/item/{i}", {"n": i, "name": f"item, {i}"}, now, f"f{i}"
                )
                for i, t in enumerate(ids)
            ],
        )
    return {"tasks": ids, "failed": ids[::3]}


def test_tasks_filter_and_page(console: Console, listed: dict, view: View) -> None:
    page = view.page
    filters = page.locator('form[data-filters="tasks"]')
    filters.locator('select[name="tasks_spider"]').select_option("jsonapi")
    tasks = view.part("tasks")
    # The newest 25 tasks are jsonapi's either way: the filtered page is known by its "older" link.
    older = tasks.get_by_role("link", name="older »")
    expect(older).to_have_attribute("href", re.compile(r"tasks_spider=jsonapi"))
    expect(tasks.locator("tbody tr")).to_have_count(25)
    older.click()
    expect(tasks.locator("tbody tr")).to_have_count(5)
    ids = [int(t) for t in tasks.locator('td[data-label="id"]').all_inner_texts()]
    assert ids == listed["tasks"][:5][::-1]
    tasks.get_by_role("link", name="« newest").click()
    expect(tasks.locator("tbody tr")).to_have_count(25)
    filters.locator('select[name="tasks_status"]').select_option("failed")
    expect(tasks.locator("tbody tr")).to_have_count(len(listed["failed"]))
    expect(tasks.locator('td[data-label="error"]').first).to_have_text(f"HTTP 500 on {listed['failed'][-1]}")
    assert "tasks_status=failed" in page.url  # a link to the page keeps the filter
    view.shot("tasks-filtered", "tasks")
    filters.locator('select[name="tasks_status"]').select_option("")
    filters.locator('select[name="tasks_spider"]').select_option("")


def test_jobs_filter_by_status(console: Console, crawls: dict, view: View) -> None:
    ended_run(console, crawls["missing"])
    filters = view.page.locator('form[data-filters="jobs"]')
    cancelled = console.api("GET", "/api/jobs?status=cancelled")["jobs"]
    assert cancelled
    filters.locator('select[name="jobs_status"]').select_option("cancelled")
    statuses = view.part("jobs").locator('td[data-label="status"]')
    expect(statuses).to_have_text(["cancelled"] * len(cancelled))
    filters.locator('select[name="jobs_status"]').select_option("")
    expect(view.part("jobs").locator("tr", has_text="article")).to_have_count(1)


def test_results_filter_page_and_export_what_matches(console: Console, listed: dict, view: View) -> None:
    page = view.page
    filters = page.locator('form[data-filters="results"]')
    filters.locator('select[name="results_spider"]').select_option("jsonapi")
    results = view.part("results")
    expect(results.locator("tbody tr")).to_have_count(25)
    task = listed["tasks"][4]
    filters.locator('input[name="results_task"]').fill(str(task))
    filters.locator('input[name="results_task"]').press("Enter")
    expect(results.locator("tbody tr")).to_have_count(1)
    expect(results.locator('td[data-label="data"]')).to_contain_text('"name": "item, 4"')
    with page.expect_download() as download_info:
        results.get_by_role("link", name="CSV").click()
    path = Path(download_info.value.path())
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [(r["task_id"], r["name"]) for r in rows] == [(str(task), "item, 4")]
    expected = console.session.get(f"{console.url}/api/results?format=csv&spider=jsonapi&task={task}", timeout=30)
    assert path.read_text() == expected.text
    view.shot("results-filtered", "results")
    filters.locator('input[name="results_task"]').fill("")
    filters.locator('input[name="results_task"]').press("Enter")
    filters.locator('select[name="results_spider"]').select_option("")


# -- charts ---------------------------------------------------------------------------------------


def test_charts_show_activity_over_the_chosen_range(console: Console, listed: dict, view: View) -> None:
    page = view.page
    page.locator('form[data-filters="charts"] select[name="range"]').select_option("1h")
    items = view.part("charts").locator('[data-series="items"]')
    expect(items.locator("rect")).not_to_have_count(0)
    expect(items.locator("figcaption b")).not_to_have_text(re.compile(r"^0\b"))
    assert view.part("charts").locator("figure").count() == 4
    page.locator('form[data-filters="charts"] select[name="range"]').select_option("7d")
    expect(items.locator(".axis time")).to_have_attribute("datetime", re.compile(r"^\d{4}-"))
    assert "range=7d" in page.url
    view.shot("charts", "activity")
