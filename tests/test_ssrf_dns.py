"""The SSRF guard against a real DNS server: every address checked, and connections go only to checked ones.

A DNS server on loopback (tests/dns_server.py) answers for made-up names under
``.test``; real ``scrapy crawl`` processes ask it through ``SCRAPERQ_DNS_SERVERS``.
Two HTTP servers share one port: the site on 127.0.0.1, which the crawl may
reach (``SCRAPERQ_ALLOW_PRIVATE=127.0.0.1/32``), and a trap on 127.0.0.2, which
it may not. Nothing leaves 127.0.0.0/8.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from scraperq.storage import open_database
from scraperq.storage.tasks import list_tasks
from tests.dns_server import Answers, dns_server
from tests.helpers import crawl_env, scrapy


class RecordingServer:
    """An HTTP server that notes every request and answers a small page."""

    def __init__(self, host: str, port: int) -> None:
        self.paths: list[str] = []
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's interface
                paths.append(self.path)
                body = b"<html><head><title>reached</title></head><body>page</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def site_and_trap() -> Iterator[tuple[RecordingServer, RecordingServer]]:
    """The site on 127.0.0.1 and the trap on 127.0.0.2, on one port (a rebinding keeps the port)."""
    for _ in range(20):
        trap = RecordingServer("127.0.0.2", 0)
        try:
            site = RecordingServer("127.0.0.1", trap.port)
        except OSError:  # that port is taken on 127.0.0.1: try another
            trap.stop()
            continue
        break
    else:
        pytest.fail("no port free on both 127.0.0.1 and 127.0.0.2")
    yield site, trap
    site.stop()
    trap.stop()


@pytest.fixture
def servers(site_and_trap: tuple[RecordingServer, RecordingServer]) -> tuple[RecordingServer, RecordingServer]:
    for server in site_and_trap:
        server.paths.clear()
    return site_and_trap


def crawl_through(sqlite_url: str, dns_address: str, url: str, *settings: str) -> list[dict[str, Any]]:
    """``scrapy crawl generic -a url=URL`` resolving names at the test's DNS server; the tasks it left."""
    args = ["crawl", "generic", "-a", f"url={url}"]
    for setting in settings:
        args += ["-s", setting]
    env = crawl_env(sqlite_url, SCRAPERQ_ALLOW_PRIVATE="127.0.0.1/32", SCRAPERQ_DNS_SERVERS=dns_address)
    proc = scrapy(args, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    with open_database(sqlite_url) as db:
        return list_tasks(db, limit=10)


# A rebinding name: a harmless answer for the first lookup, the target for every later one.
REBINDING: Answers = {"rebind.test": {"A": [["127.0.0.1"], ["127.0.0.2"]]}}


@pytest.mark.parametrize("cache", ["True", "False"])
def test_a_rebinding_name_never_gets_a_connection_to_its_second_address(
    sqlite_url: str, servers: tuple[RecordingServer, RecordingServer], cache: str
) -> None:
    site, trap = servers
    with dns_server(REBINDING) as dns:
        url = f"http://rebind.test:{site.port}/page"
        # robots.txt first, then the page: two requests, each checked before it is sent.
        tasks = crawl_through(sqlite_url, dns.address, url, "ROBOTSTXT_OBEY=True", f"DNSCACHE_ENABLED={cache}")
        a_queries = dns.count("rebind.test", "A")
    assert trap.paths == []
    if cache == "True":
        # One lookup for the whole crawl; both connections used the answer that was checked.
        assert a_queries == 1
        assert site.paths == ["/robots.txt", "/page"]
        assert [(t["status"], t["error"]) for t in tasks] == [("completed", None)]
    else:
        # A lookup per request, not per connection. The page is checked first (the guard
        # comes before robots.txt handling) and gets 127.0.0.1; robots.txt is checked next,
        # gets 127.0.0.2 and is refused before anything is sent; the page's connection goes
        # to the answer its check passed, not to a new lookup.
        assert a_queries == 2
        assert site.paths == ["/page"]
        assert [(t["status"], t["error"]) for t in tasks] == [("completed", None)]


def test_an_ipv6_answer_is_checked_too(sqlite_url: str, servers: tuple[RecordingServer, RecordingServer]) -> None:
    site, trap = servers
    answers: Answers = {"dual.test": {"A": [["127.0.0.1"]], "AAAA": [["::1"]]}}
    with dns_server(answers) as dns:
        tasks = crawl_through(sqlite_url, dns.address, f"http://dual.test:{site.port}/page", "ROBOTSTXT_OBEY=False")
        assert dns.count("dual.test", "AAAA") >= 1
    assert [(t["status"], t["error"]) for t in tasks] == [("failed", "blocked: ::1 is a loopback address")]
    assert site.paths == []  # the allowed IPv4 address is not used either: the name is refused


def test_an_ipv6_address_carrying_a_blocked_ipv4_is_refused(
    sqlite_url: str, servers: tuple[RecordingServer, RecordingServer]
) -> None:
    site, _trap = servers
    # 6to4 for 127.0.0.1: a relay would deliver it to the IPv4 host, so it is that host.
    answers: Answers = {"sixtofour.test": {"AAAA": [["2002:7f00:1::1"]]}}
    with dns_server(answers) as dns:
        tasks = crawl_through(sqlite_url, dns.address, f"http://sixtofour.test:{site.port}/page")
    assert [(t["status"], t["error"]) for t in tasks] == [
        ("failed", "blocked: 2002:7f00:1::1 is a 6to4 address for 127.0.0.1, a loopback address")
    ]


def test_a_name_the_dns_server_does_not_know_fails_in_words(
    sqlite_url: str, servers: tuple[RecordingServer, RecordingServer]
) -> None:
    site, _trap = servers
    with dns_server({}) as dns:
        tasks = crawl_through(sqlite_url, dns.address, f"http://nosuch.test:{site.port}/page")
    assert [(t["status"], t["error"]) for t in tasks] == [("failed", "DNS lookup failed for nosuch.test")]
