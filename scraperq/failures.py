"""Words a person understands for why a request failed (stored in ``tasks.error``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from twisted.internet import error as twisted_error

from scraperq.errors import first_line


def describe_exception(exc: BaseException, url: str) -> str:
    host = urlsplit(url).hostname or url
    if isinstance(exc, IgnoreRequest) and str(exc):
        return str(exc)  # our own refusals already read as sentences
    if isinstance(exc, (CannotResolveHostError, twisted_error.DNSLookupError)):
        return f"DNS lookup failed for {host}"
    if isinstance(exc, (DownloadTimeoutError, twisted_error.TimeoutError)):
        return "timed out"
    if isinstance(exc, (DownloadConnectionRefusedError, twisted_error.ConnectionRefusedError)):
        return f"connection refused by {host}"
    if isinstance(exc, (ResponseDataLossError, twisted_error.ConnectionLost, twisted_error.ConnectionDone)):
        return f"connection to {host} lost mid-response"
    if isinstance(exc, (DownloadFailedError, twisted_error.ConnectError)):
        return f"could not connect to {host}"
    text = first_line(exc)
    return type(exc).__name__ if text == type(exc).__name__ else f"{type(exc).__name__}: {text}"


def describe_status(status: int) -> str:
    return f"HTTP {status}"


def with_attempts(reason: str, attempts: int) -> str:
    """'timed out after 4 attempts' once a request was tried more than once."""
    return f"{reason} after {attempts} attempts" if attempts > 1 else reason
