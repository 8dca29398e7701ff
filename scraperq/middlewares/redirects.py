"""Redirects that cannot be followed fail their request in words, before Scrapy's RedirectMiddleware sees them.

Scrapy's RedirectMiddleware passes a redirect to another scheme (``javascript:``,
``mailto:``, ``ftp:``, ``file:``) on to the spider as a 3xx response, which then fails
as "Ignoring non-200 response", raises on a malformed ``Location`` (``http://[::1``)
from inside the downloader, and after ``REDIRECT_MAX_TIMES`` redirects drops the
request as "max redirections reached". This middleware, which sees responses just
before it, refuses such redirects with an :class:`~scrapy.exceptions.IgnoreRequest`
that says what happened:

* ``redirect to unsupported URL javascript:alert(1)``
* ``redirect to malformed URL http://[::1``
* ``more than 20 redirects`` (Scrapy's ``REDIRECT_MAX_TIMES``)
* ``redirect loop: http://host/a redirects back to http://host/b``: a request the
  seen-set filters (``dont_filter`` false) would otherwise vanish on its first
  revisit; others may revisit a URL once (a page that sets a cookie and sends the
  browser back is common) and fail on the second.

Settings: ``REDIRECT_ENABLED``, ``REDIRECT_MAX_TIMES`` (Scrapy's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from scrapy import Request
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.httpobj import urlparse_cached
from w3lib.url import canonicalize_url, safe_url_string

from scraperq.failures import shown_url

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
FOLLOWED_SCHEMES = frozenset({"http", "https"})


class RedirectRefused(IgnoreRequest):
    """A redirect that is not followed; the message says why, for the task's error."""


def redirect_target(request_url: str, location: bytes) -> str:
    """The URL a ``Location`` header sends ``request_url`` to, as RedirectMiddleware builds it;
    raises RedirectRefused when it is not an http(s) URL a request can be made for."""
    raw = location.decode("latin-1")
    try:
        target = safe_url_string(location)
        if location.startswith(b"//"):
            target = urlsplit(request_url).scheme + "://" + target.lstrip("/")
        target = urljoin(request_url, target)
        parts = urlsplit(target)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise RedirectRefused(f"redirect to malformed URL {shown_url(raw)}") from None
    if parts.scheme.lower() not in FOLLOWED_SCHEMES:
        raise RedirectRefused(f"redirect to unsupported URL {shown_url(raw)}")
    if not parts.hostname:
        raise RedirectRefused(f"redirect to malformed URL {shown_url(raw)}")
    try:
        Request(target)
    except ValueError:
        raise RedirectRefused(f"redirect to malformed URL {shown_url(raw)}") from None
    return target


class RedirectGuardMiddleware:
    def __init__(self, max_redirects: int) -> None:
        self.max_redirects = max_redirects

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedirectGuardMiddleware:
        if not crawler.settings.getbool("REDIRECT_ENABLED"):
            raise NotConfigured
        return cls(crawler.settings.getint("REDIRECT_MAX_TIMES"))

    def process_response(self, request: Request, response: Response) -> Response:
        if not self._is_redirect(request, response):
            return response
        target = redirect_target(request.url, response.headers[b"Location"] or b"")
        chain = [*request.meta.get("redirect_urls", []), request.url]
        key = canonicalize_url(target)
        visits = sum(1 for url in chain if canonicalize_url(url) == key)
        if visits >= (2 if request.dont_filter else 1):
            raise RedirectRefused(f"redirect loop: {shown_url(request.url)} redirects back to {shown_url(target)}")
        if int(request.meta.get("redirect_times", 0)) >= self.max_redirects:
            raise RedirectRefused(f"more than {self.max_redirects} redirects")
        return response

    def _is_redirect(self, request: Request, response: Response) -> bool:
        # The conditions under which RedirectMiddleware follows a response.
        meta = request.meta
        if meta.get("dont_redirect") or meta.get("handle_httpstatus_all"):
            return False
        if response.status in meta.get("handle_httpstatus_list", ()):
            return False
        if response.status not in REDIRECT_STATUSES or b"Location" not in response.headers:
            return False
        return urlparse_cached(request).scheme in FOLLOWED_SCHEMES
