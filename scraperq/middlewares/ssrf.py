"""SSRF guard: refuse requests to addresses a public crawler has no business fetching.

Refused: schemes other than http and https, and hosts that are, or resolve to,
an address that is not public (scraperq/addresses.py has the rules: loopback,
private, link-local, site-local, multicast, reserved, and IPv6 forms that carry
such an IPv4 address). Every request passes here, so redirects (new requests)
are checked too, and a name is refused when any of its addresses, IPv4 or IPv6,
is.

Names are checked through :class:`scraperq.resolver.GuardedResolver`, the name
resolver every connection gets its addresses from (its docstring says why it is
a resolver): the connection then gets the very answer checked here, so DNS
cannot send it elsewhere, whatever ``DNSCACHE_ENABLED`` says. With a proxy from
the environment the proxy resolves the target itself: this check still refuses
address literals and names that resolve here to blocked addresses, but what the
proxy connects to is outside the guard (README, Safe by default).

Settings:

* ``SCRAPERQ_ALLOW_PRIVATE``: ``0`` (default) refuses all such addresses; ``1``
  allows everything; a comma-separated list of networks (``127.0.0.0/8,10.1.0.0/16``)
  allows just those.
* ``SCRAPERQ_DNS_SERVERS``, ``DNSCACHE_ENABLED``, ``DNS_TIMEOUT``: how names are
  looked up (scraperq/resolver.py).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import deferred_to_future
from scrapy.utils.httpobj import urlparse_cached

from scraperq.addresses import (  # noqa: F401 - re-exported for the guard's users
    AllowPrivate,
    IPAddress,
    IPNetwork,
    address_problem,
    check_address,
    check_addresses,
    parse_allow_private,
)
from scraperq.resolver import GuardedResolver, LookupFailed, guarded_resolver, parse_dns_servers

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
        self._resolver: GuardedResolver | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SSRFGuardMiddleware:
        mw = cls(parse_allow_private(crawler.settings.get("SCRAPERQ_ALLOW_PRIVATE", "0")))
        parse_dns_servers(crawler.settings.get("SCRAPERQ_DNS_SERVERS"))  # a mistake ends the crawl at start
        mw.crawler = crawler
        crawler.signals.connect(mw.engine_stopped, signal=signals.engine_stopped)
        return mw

    @property
    def resolver(self) -> GuardedResolver:
        # Looked up on first use, when the crawl's reactor runs: building the middleware
        # (in unit tests, say) must not install a reactor.
        if self._resolver is None:
            self._resolver = guarded_resolver(self.crawler)
            self._resolver.register(self.crawler, self.allow)
        return self._resolver

    def engine_stopped(self) -> None:
        if self._resolver is not None:
            self._resolver.unregister(self.crawler)

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
        try:
            return await deferred_to_future(self.resolver.check(host, self.allow))
        except LookupFailed:
            raise DNSLookupFailed(f"DNS lookup failed for {host}") from None
