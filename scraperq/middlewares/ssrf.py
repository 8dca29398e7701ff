"""SSRF guard: refuse requests to addresses a public crawler has no business fetching.

Refused: schemes other than http and https, and hosts that are, or resolve to,
loopback, private, link-local, multicast, reserved or unspecified addresses.
Every request passes here, so redirects (new requests) are checked too. The
name is resolved through the crawler's caching resolver, so the connection that
follows uses the address that was checked.

Settings:

* ``SCRAPERQ_ALLOW_PRIVATE``: ``0`` (default) refuses all such addresses; ``1``
  allows everything; a comma-separated list of networks (``127.0.0.0/8,10.1.0.0/16``)
  allows just those.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import deferred_to_future
from scrapy.utils.httpobj import urlparse_cached

from scraperq.addresses import (  # noqa: F401 - re-exported for the guard's users
    AllowPrivate,
    IPAddress,
    IPNetwork,
    address_problem,
    check_address,
    parse_allow_private,
)

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

ALLOWED_SCHEMES = ("http", "https")


class BlockedRequest(IgnoreRequest):
    """A request the guard refused; the message says why, for the task's error."""


class DNSLookupFailed(IgnoreRequest):
    """The host name does not resolve; not worth retrying."""


def check_url_scheme(url: str) -> str | None:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in ALLOWED_SCHEMES:
        return f"blocked: scheme {scheme or '(none)'!r} is not allowed, only http and https"
    return None


class SSRFGuardMiddleware:
    def __init__(self, allow: bool | tuple[IPNetwork, ...]) -> None:
        self.allow = allow

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SSRFGuardMiddleware:
        mw = cls(parse_allow_private(crawler.settings.get("SCRAPERQ_ALLOW_PRIVATE", "0")))
        mw.crawler = crawler
        return mw

    async def process_request(self, request: Request) -> None:
        problem = check_url_scheme(request.url)
        if problem is None and self.allow is not True:
            host = urlparse_cached(request).hostname or ""
            problem = await self._check_host(host)
        if problem is not None:
            self.crawler.stats.inc_value("scraperq/ssrf/blocked")
            logger.warning("Refused %s: %s", request.url, problem)
            raise BlockedRequest(problem)

    async def _check_host(self, host: str) -> str | None:
        if not host:
            return "blocked: the URL has no host"
        try:
            return check_address(ipaddress.ip_address(host), self.allow)
        except ValueError:
            pass  # a name, not an address literal
        from twisted.internet import reactor

        try:
            resolved = await deferred_to_future(reactor.resolve(host))  # type: ignore[attr-defined]
        except Exception:
            raise DNSLookupFailed(f"DNS lookup failed for {host}") from None
        return check_address(ipaddress.ip_address(resolved), self.allow)
