"""How crawls fail and retry, end to end: statuses, attempts and readable errors in ``tasks``.

Real ``scrapy crawl`` processes against the mock server; the database is read
through scraperq.storage. Timing is only ever checked as an order of events or
as a lower bound measured by the server, never as an upper bound.
"""

from __future__ import annotations

from typing import Any

from scraperq.storage import open_database
from scraperq.storage.tasks import list_tasks
from tests.helpers import MockServer, crawl


def tasks_of(database_url: str) -> list[dict[str, Any]]:
    """Every task, oldest first."""
    with open_database(database_url) as db:
        return list(reversed(list_tasks(db, limit=1000)))


def only_task(database_url: str) -> dict[str, Any]:
    [task] = tasks_of(database_url)
    return task


def finished(proc: Any) -> None:
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


def test_404_fails_at_once(db_url: str, mockserver: MockServer) -> None:
    finished(crawl(db_url, "generic", f"url={mockserver('/status/404')}"))
    task = only_task(db_url)
    assert (task["status"], task["error"], task["attempts"]) == ("failed", "HTTP 404", 1)
    assert task["finished_at"] is not None
    assert mockserver.hits()["/status/404"] == 1


def test_500_then_200_completes_on_the_second_attempt(db_url: str, mockserver: MockServer) -> None:
    finished(crawl(db_url, "generic", f"url={mockserver('/flaky/a?fail=1')}"))
    task = only_task(db_url)
    assert (task["status"], task["error"], task["attempts"], task["item_count"]) == ("completed", None, 2, 1)
    assert mockserver.hits()["/flaky/a?fail=1"] == 2


def test_500_every_time_fails_after_all_retries(sqlite_url: str, mockserver: MockServer) -> None:
    finished(crawl(sqlite_url, "generic", f"url={mockserver('/flaky/b?fail=99&code=503')}", SCRAPERQ_RETRY_TIMES="2"))
    task = only_task(sqlite_url)
    assert (task["status"], task["error"], task["attempts"]) == ("failed", "HTTP 503 after 3 attempts", 3)


def test_retry_after_is_waited_for(sqlite_url: str, mockserver: MockServer) -> None:
    # The backoff alone would retry after 0.2 s; the server asks for 2 s.
    path = "/retry-after/c?after=2"
    finished(crawl(sqlite_url, "generic", f"url={mockserver(path)}", SCRAPERQ_RETRY_BACKOFF="0.2"))
    task = only_task(sqlite_url)
    assert (task["status"], task["attempts"]) == ("completed", 2)
    first, second = [when for hit, when in mockserver.log() if hit == path]
    assert second - first >= 1.9  # a lower bound, measured by the server: load can only add to it


def test_slow_response_times_out_after_all_attempts(sqlite_url: str, mockserver: MockServer) -> None:
    proc = crawl(
        sqlite_url,
        "generic",
        f"url={mockserver('/slow?delay=3')}",
        DOWNLOAD_TIMEOUT="1",
        SCRAPERQ_RETRY_TIMES="1",
    )
    finished(proc)
    task = only_task(sqlite_url)
    assert (task["status"], task["error"], task["attempts"]) == ("failed", "timed out after 2 attempts", 2)


def test_a_retry_waiting_on_backoff_blocks_no_other_request(sqlite_url: str, mockserver: MockServer) -> None:
    # One request at a time: a retry that held the slot while it waited would hold up the rest.
    flaky = mockserver("/flaky/d?fail=1")
    others = [mockserver(f"/site/{n}.html") for n in range(1, 5)]
    proc = crawl(
        sqlite_url,
        "generic",
        "urls=" + ",".join([flaky, *others]),
        SCRAPERQ_RETRY_BACKOFF="4",
        CONCURRENT_REQUESTS="1",
    )
    finished(proc)
    order = [path for path, _ in mockserver.log() if path != "/robots.txt"]
    assert order[0] == "/flaky/d?fail=1"
    assert order[-1] == "/flaky/d?fail=1"  # the retry came after every other page
    assert sorted(order[1:-1]) == [f"/site/{n}.html" for n in range(1, 5)]
    tasks = tasks_of(sqlite_url)
    assert all(t["status"] == "completed" for t in tasks)
    flaky_task = next(t for t in tasks if t["url"] == flaky)
    assert flaky_task["attempts"] == 2
    assert all(t["finished_at"] < flaky_task["finished_at"] for t in tasks if t is not flaky_task)


def test_dns_failure_is_reported_in_words(sqlite_url: str, mockserver: MockServer) -> None:
    # .invalid is reserved: it never resolves, so this asks nothing of the internet.
    finished(crawl(sqlite_url, "generic", "url=http://nosuch.invalid/"))
    task = only_task(sqlite_url)
    assert (task["status"], task["error"]) == ("failed", "DNS lookup failed for nosuch.invalid")


# -- SSRF guard --------------------------------------------------------------------------------


def test_loopback_address_is_blocked_by_default(sqlite_url: str, mockserver: MockServer) -> None:
    finished(crawl(sqlite_url, "generic", f"url={mockserver('/article')}", SCRAPERQ_ALLOW_PRIVATE="0"))
    task = only_task(sqlite_url)
    assert (task["status"], task["error"]) == ("failed", "blocked: 127.0.0.1 is a loopback address")
    assert mockserver.hits() == {}  # not even robots.txt


def test_allowed_network_lets_the_crawl_reach_it(sqlite_url: str, mockserver: MockServer) -> None:
    finished(crawl(sqlite_url, "generic", f"url={mockserver('/article')}", SCRAPERQ_ALLOW_PRIVATE="127.0.0.0/8"))
    assert only_task(sqlite_url)["status"] == "completed"


def test_name_resolving_to_loopback_is_blocked(sqlite_url: str, mockserver: MockServer) -> None:
    url = mockserver("/article").replace("127.0.0.1", "localhost")
    finished(crawl(sqlite_url, "generic", f"url={url}", SCRAPERQ_ALLOW_PRIVATE="0"))
    task = only_task(sqlite_url)
    assert task["status"] == "failed"
    assert task["error"] in ("blocked: 127.0.0.1 is a loopback address", "blocked: ::1 is a loopback address")
    assert mockserver.hits() == {}


def test_redirect_to_a_private_address_is_blocked_before_connecting(sqlite_url: str, mockserver: MockServer) -> None:
    # The mock server is also the HTTP proxy: had the guard let the redirect through,
    # the request would have reached the mock server (and shown in its hits), never 10.0.0.5.
    start = mockserver("/redirect?to=http://10.0.0.5/")
    proxy = {"http_proxy": mockserver.url}
    finished(crawl(sqlite_url, "generic", f"url={start}", **proxy))
    task = only_task(sqlite_url)
    assert (task["status"], task["error"]) == ("failed", "blocked: 10.0.0.5 is a private address")
    assert not [path for path in mockserver.hits() if path.startswith("http://10.0.0.5")]
    assert mockserver.hits()[start] == 1  # the redirect itself was fetched, through the proxy
