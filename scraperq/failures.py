"""Words a person understands for why a request failed (stored in ``tasks.error``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from twisted.internet import error as twisted_error

from scraperq.errors import first_line


def describe_size(size: int) -> str:
    """``32 MiB``, ``500 KiB``, ``1234 bytes``: a size limit as people write it."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MiB"
    return f"{size} bytes"


def describe_exception(exc: BaseException, url: str, *, max_size: int = 0, max_redirects: int = 0) -> str:
    """What went wrong, in words; ``max_size`` and ``max_redirects`` are the limits the request had."""
    host = urlsplit(url).hostname or url
    if isinstance(exc, IgnoreRequest):
        text = str(exc)
        # Scrapy's own refusals, reworded (HttpCompressionMiddleware, RedirectMiddleware).
        if "during decompression" in text and max_size:
            return f"response larger than {describe_size(max_size)} after decompression"
        if text == "max redirections reached":
            return f"more than {max_redirects} redirects" if max_redirects else "too many redirects"
        if not text:
            return "ignored (robots.txt or a middleware refused it)"
        return text  # our own refusals already read as sentences
    if isinstance(exc, DownloadCancelledError):
        # The download handler cancels a body over DOWNLOAD_MAXSIZE, announced or as it arrives (chunked).
        return f"response larger than {describe_size(max_size)}" if max_size else "download cancelled"
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


def describe_parse_error(exc: BaseException) -> str:
    """An exception from a callback, errback or spider middleware."""
    text = first_line(exc)
    return f"parse error: {type(exc).__name__}" + ("" if text == type(exc).__name__ else f": {text}")


def shown_url(url: str, limit: int = 200) -> str:
    """A URL from a server, fit for an error column and a log line: control characters escaped, cut short."""
    shown = url.encode("unicode_escape").decode("ascii") if not url.isprintable() else url
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def describe_status(status: int) -> str:
    return f"HTTP {status}"


def with_attempts(reason: str, attempts: int) -> str:
    """'timed out after 4 attempts' once a request was tried more than once."""
    return f"{reason} after {attempts} attempts" if attempts > 1 else reason
