"""Backoff retries: delays, Retry-After parsing and what the middleware hands back (no network)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from scrapy import Request, Spider
from scrapy.exceptions import DownloadTimeoutError
from scrapy.http import Response
from scrapy.utils.test import get_crawler

from scraperq.middlewares.retry import NOT_BEFORE, BackoffRetryMiddleware, backoff_delay, parse_retry_after

NOW = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT


@pytest.mark.parametrize(("retry_number", "delay"), [(1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0)])
def test_backoff_doubles_from_the_base(retry_number: int, delay: float) -> None:
    assert backoff_delay(retry_number, 5.0, 600.0) == delay


def test_backoff_never_exceeds_the_cap() -> None:
    assert backoff_delay(12, 5.0, 600.0) == 600.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (b"120", 120.0),
        ("0", 0.0),
        (" 30 ", 30.0),
        ("Tue, 14 Nov 2023 22:14:20 GMT", 60.0),
        ("Tue, 14 Nov 2023 22:00:00 GMT", 0.0),  # already past: retry as soon as the backoff allows
    ],
)
def test_retry_after_in_seconds_or_as_an_http_date(header: bytes | str, seconds: float) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize("header", [None, b"", "soon", "-5", "1.5e3", "Tue, 99 Nov 2023 25:00:00 GMT"])
def test_an_unusable_retry_after_is_ignored(header: bytes | str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None


@pytest.fixture
def local_time_new_york() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.mark.parametrize("header", ["Tue, 14 Nov 2023 22:14:20 -0000", "Tue, 14 Nov 2023 22:14:20"])
def test_an_http_date_without_a_zone_is_gmt_not_local_time(local_time_new_york: None, header: str) -> None:
    assert parse_retry_after(header, now=NOW) == 60.0


# -- the middleware -------------------------------------------------------------------------


@pytest.fixture
def middleware() -> BackoffRetryMiddleware:
    crawler = get_crawler(
        Spider,
        {"SCRAPERQ_RETRY_TIMES": 3, "SCRAPERQ_RETRY_BACKOFF": 5.0, "SCRAPERQ_RETRY_MAX_DELAY": 300.0},
    )
    crawler.spider = crawler._create_spider("test")
    return BackoffRetryMiddleware.from_crawler(crawler)


def response(request: Request, status: int, **headers: str) -> Response:
    return Response(request.url, status=status, headers=headers, request=request)


def delay_of(retry: Request, before: float, after: float) -> tuple[float, float]:
    """The delay the middleware chose, bracketed by the clock readings around the call."""
    return retry.meta[NOT_BEFORE] - after, retry.meta[NOT_BEFORE] - before


def test_server_errors_are_retried_later_with_doubling_delays(middleware: BackoffRetryMiddleware) -> None:
    request = Request("https://example.com/")
    for expected in (5.0, 10.0, 20.0):
        before = time.time()
        retry = middleware.process_response(request, response(request, 503))
        after = time.time()
        assert isinstance(retry, Request) and retry.url == request.url
        low, high = delay_of(retry, before, after)
        assert low <= expected <= high
        request = retry
    final = response(request, 503)
    assert middleware.process_response(request, final) is final
    assert middleware.crawler.stats.get_value("scraperq/retry/delayed") == 3


def test_a_longer_retry_after_is_honoured_up_to_the_cap(middleware: BackoffRetryMiddleware) -> None:
    request = Request("https://example.com/")
    before = time.time()
    hinted = middleware.process_response(request, response(request, 429, **{"Retry-After": "120"}))
    capped = middleware.process_response(request, response(request, 429, **{"Retry-After": "86400"}))
    shorter = middleware.process_response(request, response(request, 429, **{"Retry-After": "1"}))
    after = time.time()
    low, high = delay_of(hinted, before, after)
    assert low <= 120.0 <= high
    low, high = delay_of(capped, before, after)
    assert low <= 300.0 <= high
    low, high = delay_of(shorter, before, after)
    assert low <= 5.0 <= high  # the backoff is a floor


@pytest.mark.parametrize("status", [200, 301, 403, 404])
def test_other_statuses_are_not_retried(middleware: BackoffRetryMiddleware, status: int) -> None:
    request = Request("https://example.com/")
    answer = response(request, status)
    assert middleware.process_response(request, answer) is answer


def test_dont_retry_is_respected(middleware: BackoffRetryMiddleware) -> None:
    request = Request("https://example.com/", meta={"dont_retry": True})
    answer = response(request, 503)
    assert middleware.process_response(request, answer) is answer


def test_a_timeout_is_retried_later_and_other_exceptions_are_not(middleware: BackoffRetryMiddleware) -> None:
    request = Request("https://example.com/")
    before = time.time()
    retry = middleware.process_exception(request, DownloadTimeoutError("took too long"))
    after = time.time()
    assert isinstance(retry, Request)
    low, high = delay_of(retry, before, after)
    assert low <= 5.0 <= high
    assert middleware.process_exception(request, ValueError("a bug in a callback")) is None
