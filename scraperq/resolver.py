"""The crawler's name resolver: Twisted connects only to addresses the SSRF rules allow.

Why a resolver. Scrapy's HTTP/1.1 and HTTP/2 download handlers connect through
Twisted's ``HostnameEndpoint``, which asks the reactor's name resolver
(``reactor.nameResolver``) for the host's addresses when it connects, and then
connects to exactly those. Scrapy installs that resolver from its
``TWISTED_DNS_RESOLVER`` setting (``DNS_RESOLVER`` before 2.19). So a resolver
that refuses blocked addresses *at resolution time* stands between every name
and every connection: whatever connects only ever gets checked addresses, with
or without ``DNSCACHE_ENABLED``, for redirects, robots.txt and retries alike,
and no second lookup can slip an unchecked address in. The alternative, a
download handler that connects to an address pinned by the guard while keeping
the Host header and TLS server name, would have to replace Scrapy's HTTP agent
and its proxy, tunnel and size-limit handling, and take over the ``http`` and
``https`` handlers the browser handler already occupies; the resolver changes
none of that and uses only public interfaces (``IHostnameResolver``,
``IReactorPluggableNameResolver.installNameResolver``, ``TWISTED_DNS_RESOLVER``).

How the pieces fit:

* SSRFGuardMiddleware checks each request's host with
  :meth:`GuardedResolver.check` before anything is sent: every address the name
  has, IPv4 and IPv6, must pass :func:`scraperq.addresses.check_addresses`, or
  the task fails with the reason (``blocked: 127.0.0.2 is a loopback address``).
  An answer that passes is kept as the name's *checked answer*.
* When a connection asks for the name (:meth:`GuardedResolver.resolveHostName`),
  it gets the checked answer: no second lookup happens, so DNS cannot answer the
  connection differently from the check, whatever ``DNSCACHE_ENABLED`` says.
  ``DNSCACHE_ENABLED`` decides only whether the guard's lookups ask DNS again
  for every request (off) or reuse the crawl's earlier answers (on, Scrapy's
  default); each new answer is checked before any connection uses it.
* A connection to a name the guard has not checked (a request that went around
  the middleware) is looked up here and its addresses are checked against the
  ``SCRAPERQ_ALLOW_PRIVATE`` of every crawler registered with the resolver; if
  any is refused, no address is handed out, the connection fails and the reason
  is logged.
* ``settings.py`` names this class in ``TWISTED_DNS_RESOLVER``; crawls started
  in ways that install no resolver (``CrawlerRunner``, another project's
  settings) get one from the middleware (:func:`guarded_resolver`).
* ``localhost`` and ``*.localhost`` are loopback without asking DNS (RFC 6761).
* Proxies: the host of a proxy from the environment (``http_proxy``,
  ``https_proxy``, read as Scrapy's HttpProxyMiddleware reads them) is the
  operator's choice and is not checked here; the proxy resolves the target's
  name itself, so the guard cannot pin that address (README: Safe by default).
* Scrapy's optional httpx and aiohttp download handlers resolve names on their
  own, outside this resolver: the project's ``DOWNLOAD_HANDLERS`` do not use them.

Settings:

* ``SCRAPERQ_ALLOW_PRIVATE``: the networks allowed besides public addresses.
* ``SCRAPERQ_DNS_SERVERS``: empty (default) asks the system's resolver
  (``getaddrinfo``, in the reactor's thread pool); or a comma-separated list of
  DNS servers to ask instead (``10.0.0.2``, ``127.0.0.1:5353``, ``[::1]:53``).
* ``DNSCACHE_ENABLED``, ``DNSCACHE_SIZE``: answers kept for the crawl, as Scrapy does.
* ``DNS_TIMEOUT``: seconds a lookup may take.
* ``HTTPPROXY_ENABLED``: when off, environment proxies are not exempt either.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
import weakref
from typing import TYPE_CHECKING, Any, Protocol
from urllib.request import getproxies

from scrapy.utils.datatypes import LocalCache
from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHostnameResolver, IHostResolution, IResolutionReceiver
from twisted.internet.threads import deferToThreadPool
from zope.interface import implementer

from scraperq.addresses import AllowPrivate, IPAddress, check_addresses, parse_allow_private
from scraperq.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from scrapy.crawler import Crawler
    from twisted.internet.interfaces import IAddress

logger = logging.getLogger(__name__)

# Names whose checked answer is kept; a name pushed out is looked up and checked again.
CHECKED_NAMES = 10000
_LOOPBACK = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]


class LookupFailed(Exception):
    """The name has no address (or the lookup failed or timed out)."""


class Lookup(Protocol):
    def __call__(self, name: str) -> Deferred[list[IPAddress]]: ...


# -- where answers come from ---------------------------------------------------------------


class SystemLookup:
    """The system's resolver: ``getaddrinfo`` for IPv4 and IPv6, in the reactor's thread pool."""

    def __init__(self, reactor: Any, *, timeout: float) -> None:
        self.reactor = reactor
        self.timeout = timeout

    def __call__(self, name: str) -> Deferred[list[IPAddress]]:
        d = deferToThreadPool(self.reactor, self.reactor.getThreadPool(), system_addresses, name)
        return _with_timeout(d, self.timeout, self.reactor, name)


def system_addresses(name: str) -> list[IPAddress]:
    """Every address the system's resolver gives ``name``, IPv4 and IPv6 (blocking); LookupFailed if none."""
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise LookupFailed(str(exc)) from None
    # A scope (fe80::1%eth0) is no part of the address the rules judge.
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos))


class ServerLookup:
    """Ask the given DNS servers for A and AAAA records (twisted.names), not the system's resolver."""

    def __init__(self, reactor: Any, servers: list[tuple[str, int]], *, timeout: float) -> None:
        from twisted.names import client

        self.reactor = reactor
        self.timeout = timeout
        self.client = client.Resolver(servers=servers, reactor=reactor)

    def __call__(self, name: str) -> Deferred[list[IPAddress]]:
        tries = (self.timeout,)
        queries = [self.client.lookupAddress(name, timeout=tries), self.client.lookupIPV6Address(name, timeout=tries)]
        d = defer.DeferredList(queries, consumeErrors=True)
        d.addCallback(self._addresses, name)
        return d

    @staticmethod
    def _addresses(results: list[tuple[bool, Any]], name: str) -> list[IPAddress]:
        from twisted.names import dns

        if not any(ok for ok, _ in results):
            raise LookupFailed(results[0][1].getErrorMessage())
        found: list[IPAddress] = []
        for ok, value in results:
            if not ok:
                continue
            answers = value[0]
            # The answer section also holds the CNAME chain; every address in it is one the name has.
            for record in answers:
                if record.type == dns.A:
                    found.append(ipaddress.IPv4Address(record.payload.address))
                elif record.type == dns.AAAA:
                    found.append(ipaddress.IPv6Address(record.payload.address))
        return list(dict.fromkeys(found))


def _with_timeout(d: Deferred[Any], timeout: float, reactor: Any, name: str) -> Deferred[Any]:
    def timed_out(failure: Any) -> Any:
        failure.trap(defer.TimeoutError)
        raise LookupFailed(f"no answer for {name} within {timeout:g} s")

    if timeout > 0:
        d.addTimeout(timeout, reactor)
        d.addErrback(timed_out)
    return d


def parse_dns_servers(raw: object) -> list[tuple[str, int]]:
    """``10.0.0.2, 127.0.0.1:5353, [::1]:53`` as (address, port) pairs; ConfigError if malformed."""
    servers = []
    for part in str(raw or "").split(","):
        part = part.strip()
        if not part:
            continue
        host, port = part, "53"
        if part.startswith("["):
            host, _, rest = part[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else ("53" if not rest else "x")
        elif part.count(":") == 1:
            host, port = part.split(":")
        try:
            address = ipaddress.ip_address(host)
            number = int(port)
            if not 0 < number < 65536:
                raise ValueError
        except ValueError:
            raise ConfigError(
                f"SCRAPERQ_DNS_SERVERS: {part!r} is not a DNS server address; use IP[:PORT], e.g. 10.0.0.2 or [::1]:53"
            ) from None
        servers.append((str(address), number))
    return servers


# -- the resolver ----------------------------------------------------------------------------


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:
        pass  # the lookup finishes on its own; nobody waits for its answer


@implementer(IHostnameResolver)
class GuardedResolver:
    """A name resolver that hands out a name's addresses only when every one of them is allowed."""

    def __init__(
        self,
        reactor: Any,
        lookup: Lookup,
        *,
        allow: AllowPrivate = False,
        cache_size: int = 0,
        exempt_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.reactor = reactor
        self.lookup_addresses = lookup
        self.default_allow = allow
        self.exempt_hosts = exempt_hosts
        self.cache: LocalCache[str, list[IPAddress]] | None = LocalCache(cache_size) if cache_size > 0 else None
        # The last answer the guard checked, per name: what connections get.
        self.checked: LocalCache[str, list[IPAddress]] = LocalCache(CHECKED_NAMES)
        self._policies: weakref.WeakKeyDictionary[Any, AllowPrivate] = weakref.WeakKeyDictionary()

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> GuardedResolver:
        # Scrapy passes its CrawlerProcess here, not a Crawler: only .settings is used.
        settings = crawler.settings
        timeout = settings.getfloat("DNS_TIMEOUT", 60)
        try:
            allow = parse_allow_private(settings.get("SCRAPERQ_ALLOW_PRIVATE", "0"))
            servers = parse_dns_servers(settings.get("SCRAPERQ_DNS_SERVERS"))
        except ConfigError:
            # Scrapy builds the resolver before any crawler, where an exception is a traceback;
            # SSRFGuardMiddleware reads the same settings and reports the mistake in one line.
            allow, servers = False, []
        lookup: Lookup = (
            ServerLookup(reactor, servers, timeout=timeout) if servers else SystemLookup(reactor, timeout=timeout)
        )
        exempt = proxy_hosts() if settings.getbool("HTTPPROXY_ENABLED", True) else frozenset()
        return cls(
            reactor,
            lookup,
            allow=allow,
            cache_size=settings.getint("DNSCACHE_SIZE", 10000) if settings.getbool("DNSCACHE_ENABLED", True) else 0,
            exempt_hosts=exempt,
        )

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)

    # -- policies -------------------------------------------------------------------------

    def register(self, owner: Any, allow: AllowPrivate) -> None:
        """Apply ``owner``'s (a crawler's) ``SCRAPERQ_ALLOW_PRIVATE`` from now on.

        Once crawlers have registered, an address must be allowed by every one of them:
        a connection cannot be traced to the crawler it is for, so the strictest wins.
        """
        self._policies[owner] = allow

    def unregister(self, owner: Any) -> None:
        self._policies.pop(owner, None)

    def problem(self, addresses: list[IPAddress]) -> str | None:
        policies = list(self._policies.values()) or [self.default_allow]
        for allow in policies:
            problem = check_addresses(addresses, allow)
            if problem is not None:
                return problem
        return None

    # -- lookups --------------------------------------------------------------------------

    def check(self, name: str, allow: AllowPrivate) -> Deferred[str | None]:
        """Why ``name`` may not be fetched under ``allow``, or None; the answer that passed is kept.

        Fails with :class:`LookupFailed` when the name has no address.
        """

        def judged(addresses: list[IPAddress]) -> str | None:
            problem = check_addresses(addresses, allow)
            if problem is None:
                self.checked[_key(name)] = addresses
            return problem

        return self.lookup(name).addCallback(judged)

    def lookup(self, name: str) -> Deferred[list[IPAddress]]:
        """Every address ``name`` has (an address literal stands for itself), unchecked.

        Fails with :class:`LookupFailed` when there is none.
        """
        name = _key(name)
        try:
            return defer.succeed([ipaddress.ip_address(name.strip("[]"))])
        except ValueError:
            pass
        if name == "localhost" or name.endswith(".localhost"):
            return defer.succeed(list(_LOOPBACK))
        if self.cache is not None and name in self.cache:
            return defer.succeed(self.cache[name])
        try:
            d = self.lookup_addresses(name)
        except Exception as exc:  # a name the DNS client cannot even put in a query
            return defer.fail(LookupFailed(f"cannot look up {_shown(name)}: {exc}"))
        d.addCallback(self._answered, name)
        return d

    def _answered(self, addresses: list[IPAddress], name: str) -> list[IPAddress]:
        if not addresses:
            raise LookupFailed(f"{name} has no address")
        if self.cache is not None:
            self.cache[name] = addresses
            # Scrapy's per-IP download slots (CONCURRENT_REQUESTS_PER_IP) read its own cache.
            from scrapy.resolver import dnscache

            dnscache[name] = str(addresses[0])
        return addresses

    # -- IHostnameResolver ------------------------------------------------------------------

    def resolveHostName(  # noqa: N802 - Twisted's interface
        self,
        resolutionReceiver: IResolutionReceiver,  # noqa: N803
        hostName: str,  # noqa: N803
        portNumber: int = 0,  # noqa: N803
        addressTypes: Sequence[type[IAddress]] | None = None,  # noqa: N803
        transportSemantics: str = "TCP",  # noqa: N803
    ) -> IHostResolution:
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        checked = self.checked.get(_key(hostName))
        d = defer.succeed(checked) if checked is not None else self.lookup(hostName)
        d.addCallbacks(
            self._report,
            self._report_failure,
            callbackArgs=(resolutionReceiver, hostName, portNumber, addressTypes),
            errbackArgs=(resolutionReceiver, hostName),
        )
        return resolution

    def _report(
        self,
        addresses: list[IPAddress],
        receiver: IResolutionReceiver,
        name: str,
        port: int,
        types: Sequence[type[IAddress]] | None,
    ) -> None:
        try:
            problem = None if _key(name) in self.exempt_hosts else self.problem(addresses)
            if problem is not None:
                # Nothing is handed out, so the connection fails (as a failed DNS lookup).
                logger.warning("Refused to connect to %s: %s", _shown(name), problem)
                return
            for ip in addresses:
                address = IPv4Address("TCP", str(ip), port) if ip.version == 4 else IPv6Address("TCP", str(ip), port)
                if types is None or any(isinstance(address, kind) for kind in types):
                    receiver.addressResolved(address)
        finally:
            receiver.resolutionComplete()

    @staticmethod
    def _report_failure(failure: Any, receiver: IResolutionReceiver, name: str) -> None:
        logger.debug("Lookup of %s failed: %s", _shown(name), failure.getErrorMessage())
        receiver.resolutionComplete()


def _key(name: str) -> str:
    return name.rstrip(".").lower()


def _shown(name: str) -> str:
    """A host name as it may appear in a log line (it comes from crawled pages)."""
    return name.encode("ascii", "backslashreplace").decode("ascii")[:255]


def proxy_hosts() -> frozenset[str]:
    """Hosts of the proxies in the environment, as Scrapy's HttpProxyMiddleware finds them."""
    from urllib.parse import urlsplit

    hosts = set()
    for scheme, url in getproxies().items():
        if scheme == "no":
            continue
        host = urlsplit(url if "://" in url else f"http://{url}").hostname
        if host:
            hosts.add(host.rstrip(".").lower())
    return frozenset(hosts)


def installed_resolver() -> GuardedResolver | None:
    """The GuardedResolver on the running reactor, if one is installed (never installs a reactor)."""
    reactor = sys.modules.get("twisted.internet.reactor")
    resolver = getattr(reactor, "nameResolver", None)
    return resolver if isinstance(resolver, GuardedResolver) else None


def guarded_resolver(crawler: Crawler) -> GuardedResolver:
    """The reactor's GuardedResolver, installed from ``crawler``'s settings if the reactor has another."""
    resolver = installed_resolver()
    if resolver is None:
        from twisted.internet import reactor

        resolver = GuardedResolver.from_crawler(crawler, reactor)
        previous = type(reactor.nameResolver).__name__
        resolver.install_on_reactor()
        logger.info("SSRF guard: connections now resolve through GuardedResolver (was %s)", previous)
    return resolver
