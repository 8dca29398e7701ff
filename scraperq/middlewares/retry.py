"""Retries with exponential backoff that hold no download slot while they wait.

Replaces Scrapy's RetryMiddleware (which retries at once). A retryable failure
(connection error, timeout, HTTP 408/429/5xx) gives a copy of the request with
``meta["not_before"]`` set to when it may run; the scheduler keeps it out of the
downloader until then, so other requests go on. With the Redis queue the waiting
request sits in Redis and survives a worker restart.

Settings:

* ``SCRAPERQ_RETRY_TIMES`` (3): retries after the first attempt.
* ``SCRAPERQ_RETRY_BACKOFF`` (5.0): first delay in seconds; each retry doubles it.
* ``SCRAPERQ_RETRY_MAX_DELAY`` (600): cap on one delay, ``Retry-After`` included.
* ``RETRY_HTTP_CODES``, ``RETRY_EXCEPTIONS``, ``RETRY_ENABLED``: as in Scrapy.
"""

from __future__ import annotations

import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.retry import RetryMiddleware, get_retry_request

from scraperq.meta import NOT_BEFORE

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings


def backoff_delay(retry_number: int, base: float, cap: float) -> float:
    """Delay before retry number ``retry_number`` (1-based): base, 2*base, 4*base, ..."""
    return min(cap, base * (2 ** max(0, retry_number - 1)))


def parse_retry_after(value: bytes | str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        parsed = parsedate_to_datetime(text)
        if parsed.tzinfo is None:  # "-0000" or no zone: HTTP dates are always GMT, never local time
            parsed = parsed.replace(tzinfo=UTC)
        when = parsed.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


class BackoffRetryMiddleware(RetryMiddleware):
    def __init__(self, settings: BaseSettings):
        super().__init__(settings)
        self.max_retry_times = settings.getint("SCRAPERQ_RETRY_TIMES", 3)
        self.backoff = settings.getfloat("SCRAPERQ_RETRY_BACKOFF", 5.0)
        self.max_delay = settings.getfloat("SCRAPERQ_RETRY_MAX_DELAY", 600.0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        mw = cls(crawler.settings)
        mw.crawler = crawler
        return mw

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retry = self._retry_request(request, f"HTTP {response.status}")
        if retry is None:
            return response
        hinted = parse_retry_after(response.headers.get(b"Retry-After"))
        self._delay(retry, hinted)
        return retry

    def process_exception(self, request: Request, exception: Exception) -> Request | None:
        if request.meta.get("dont_retry", False) or not isinstance(exception, self.exceptions_to_retry):
            return None
        retry = self._retry_request(request, exception)
        if retry is not None:
            self._delay(retry, None)
        return retry

    def _retry_request(self, request: Request, reason: str | Exception) -> Request | None:
        # Scrapy's public helper, with the per-request meta overrides its RetryMiddleware honours.
        meta = request.meta
        assert self.crawler.spider is not None
        return get_retry_request(
            request,
            spider=self.crawler.spider,
            reason=reason,
            max_retry_times=meta.get("max_retry_times", self.max_retry_times),
            priority_adjust=meta.get("priority_adjust", self.priority_adjust),
            give_up_log_level=meta.get("give_up_log_level", self.give_up_log_level),
        )

    def _delay(self, retry: Request, hinted: float | None) -> None:
        delay = backoff_delay(int(retry.meta.get("retry_times", 1)), self.backoff, self.max_delay)
        if hinted is not None:
            delay = max(delay, min(hinted, self.max_delay))
        retry.meta[NOT_BEFORE] = time.time() + delay
        self.crawler.stats.inc_value("scraperq/retry/delayed")
