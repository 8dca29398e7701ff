"""JavaScript rendering with real Chromium: only pages that ask for it, and never past the SSRF rules.

Each crawl that renders starts Chromium once (about a second); the tests are few.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse, TextResponse

from scraperq.rendering import needs_rendering
from tests.helpers import MockServer
from tests.mockserver.sources import APP_TEXT
from tests.source_helpers import crawl_with, crawled_ok, stat, stored

# -- the decision, without a browser ------------------------------------------------------


def page(body: str, ctype: str = "text/html; charset=utf-8", status: int = 200) -> HtmlResponse:
    return HtmlResponse("https://example.org/", body=body.encode(), headers={"Content-Type": ctype}, status=status)


LONG_TEXT = "<p>" + "Plenty of words on the page itself. " * 10 + "</p>"


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (page('<html><body><div id="app"></div><script src="/app.js"></script></body></html>'), True),
        (page('<html><body><div id="root"></div><script type="module">go()</script></body></html>'), True),
        (page(f"<html><body>{LONG_TEXT}<script>track()</script></body></html>"), False),
        (page("<html><body><p>Short, and nothing to run.</p></body></html>"), False),
        (page('<html><body><script type="application/ld+json">{"@type": "Thing"}</script></body></html>'), False),
        (page('<html><body><div id="app"></div><script src="/app.js"></script></body></html>', status=404), False),
    ],
    ids=["app-shell", "module-script", "text-with-tracker", "short-static", "json-ld-only", "error-status"],
)
def test_auto_renders_pages_with_scripts_and_almost_no_text(response: HtmlResponse, expected: bool) -> None:
    assert needs_rendering(response) is expected


def test_auto_never_renders_what_is_not_html() -> None:
    body = b'{"html": "<script>x()</script>"}'
    response = TextResponse("https://example.org/data.json", body=body, headers={"Content-Type": "application/json"})
    assert needs_rendering(response) is False


# -- real crawls ---------------------------------------------------------------------------


def test_render_auto_renders_the_app_shell_and_leaves_the_plain_page_plain(
    sqlite_url: str, mockserver: MockServer
) -> None:
    urls = f"{mockserver('/js/app.html?id=7')},{mockserver('/article')}"
    proc = crawl_with(sqlite_url, "generic", f"urls={urls}", "render=auto")
    crawled_ok(proc)
    tasks, results = stored(sqlite_url)
    assert [t["status"] for t in tasks] == ["completed", "completed"]
    by_url = {r["url"]: r["data"] for r in results}
    app = by_url[mockserver("/js/app.html?id=7")]
    assert app["title"] == "Rendered story 7"
    assert APP_TEXT in app["text"]
    assert by_url[mockserver("/article")]["title"] == "River levels rise in the valley"
    assert (stat(proc, "scraperq/render/auto_rendered"), stat(proc, "scraperq/render/auto_plain")) == (1, 1)
    assert stat(proc, "scraperq/render/pages") == 1  # the article never went to the browser


def test_a_crawl_of_plain_pages_starts_no_browser(sqlite_url: str, mockserver: MockServer) -> None:
    proc = crawl_with(sqlite_url, "generic", f"url={mockserver('/article')}")
    crawled_ok(proc)
    assert "Launching browser" not in proc.stderr
    assert "Starting download handler" not in proc.stderr  # Playwright's driver was not started either
    assert stat(proc, "playwright/browser_count") is None


def test_a_source_that_renders_always_waits_for_its_content_and_recycles_contexts(
    sqlite_url: str, mockserver: MockServer, tmp_path: Path
) -> None:
    urls = ", ".join(f"'{mockserver(f'/js/app.html?id={n}')}'" for n in range(1, 5))
    (tmp_path / "app_stories.yaml").write_text(
        f"start_urls: [{urls}]\n"
        "render: always\n"
        "render_wait_for: '#app h1'\n"
        "fields: {title: {css: '#app h1', required: true}, text: '#app p'}\n"
        "politeness: {concurrency: 1}\n"  # one page after another: a context's last page ends before the next
    )
    proc = crawl_with(
        sqlite_url, "app_stories", SCRAPERQ_SOURCES_DIR=str(tmp_path), SCRAPERQ_RENDER_PAGES_PER_CONTEXT="2"
    )
    crawled_ok(proc)
    _, results = stored(sqlite_url)
    assert sorted(r["data"]["title"] for r in results) == [f"Rendered story {n}" for n in range(1, 5)]
    assert all(r["data"]["text"] == APP_TEXT for r in results)
    # Every page was closed, and the first context once its two pages were done.
    assert stat(proc, "playwright/page_count/closed") == 4
    assert stat(proc, "playwright/context_count") == 2
    assert stat(proc, "scraperq/render/contexts_closed") == 1


@pytest.fixture
def blocked_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.2, outside the test's allowed network; it notes every request."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"secret")

    server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.2:{server.server_address[1]}/secret", seen
    server.shutdown()
    server.server_close()


def test_a_rendered_page_cannot_reach_a_blocked_address_directly_or_by_redirect(
    sqlite_url: str, mockserver: MockServer, blocked_server: tuple[str, list[str]], tmp_path: Path
) -> None:
    target, seen = blocked_server
    (tmp_path / "guarded.yaml").write_text(
        f"start_urls: ['{mockserver('/js/guard.html')}?target={target}']\n"
        "render: always\n"
        "render_wait_for: '#done'\n"  # both attempts have settled
        "fields: {direct: '#direct', redirect: '#redirect'}\n"
    )
    proc = crawl_with(
        sqlite_url,
        "guarded",
        SCRAPERQ_SOURCES_DIR=str(tmp_path),
        SCRAPERQ_ALLOW_PRIVATE="127.0.0.1/32",  # the mock server, not 127.0.0.2
    )
    crawled_ok(proc)
    assert seen == []
    assert any(path.startswith("/redirect?to=") for path in mockserver.hits())  # fetched; its target was not
    _, [result] = stored(sqlite_url)
    assert (result["data"]["direct"], result["data"]["redirect"]) == ("refused", "refused")
    assert stat(proc, "scraperq/render/blocked") >= 2  # one per attempt; Chromium may try again
    assert "blocked: 127.0.0.2 is a loopback address" in proc.stderr


def test_a_render_mode_that_does_not_exist_is_a_one_line_error(sqlite_url: str, mockserver: MockServer) -> None:
    proc = crawl_with(sqlite_url, "generic", f"url={mockserver('/article')}", "render=sometimes")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "scrapy crawl: error: -a render='sometimes': use one of never, auto, always"
    )
