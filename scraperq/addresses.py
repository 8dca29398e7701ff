"""Which addresses a crawler may fetch: the SSRF rules, free of Scrapy and Twisted.

The downloader's guard (scraperq/middlewares/ssrf.py), the resolver that hands
connections their addresses (scraperq/resolver.py), the browser's gate and the
Redis payload checks (scraperq/payloads.py) share these rules, and the scheduler
daemon may import them without pulling in the crawl side.

The rule is an allowlist: an address may be fetched when it is public, and

* an IPv4 address is public when Python's ``ipaddress`` calls it global and it is
  not multicast;
* an IPv6 address is public when it is global unicast (``2000::/3``), Python's
  ``ipaddress`` calls it global, and any IPv4 address it carries is public:
  6to4 (``2002::/16``) and Teredo (``2001::/32``, server and client) addresses
  are judged by the IPv4 addresses inside them as well;
* an IPv4-mapped address (``::ffff:a.b.c.d``) is the IPv4 host itself, and an
  address of the well-known NAT64 prefix (``64:ff9b::/96``) is judged by the
  IPv4 address in its last 32 bits (a NAT64 gateway connects there).

Everything else is refused: loopback, private (RFC 1918, unique local), link-local,
site-local (``fec0::/10``), multicast, unspecified, shared (``100.64.0.0/10``),
documentation and reserved ranges, the deprecated IPv4-compatible form
(``::a.b.c.d``), and the local-use NAT64 prefix ``64:ff9b:1::/48`` (RFC 8215: not
globally reachable, and where the IPv4 address sits inside it depends on how
the local gateway is set up, so it cannot be judged from outside).

Setting: ``SCRAPERQ_ALLOW_PRIVATE`` (parsed by :func:`parse_allow_private`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from scraperq.errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AllowPrivate = bool | tuple[IPNetwork, ...]

_PRIVATE = tuple(ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def parse_allow_private(raw: object) -> bool | tuple[IPNetwork, ...]:
    """``True`` for allow-all, ``False`` for none, or the networks allowed."""
    text = str(raw if raw is not None else "0").strip()
    if text.lower() in ("", "0", "false", "no", "off"):
        return False
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    networks = []
    for part in text.split(","):
        try:
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"SCRAPERQ_ALLOW_PRIVATE: {part.strip()!r} is not a network; use 0, 1 or a list like 127.0.0.0/8"
            ) from None
    return tuple(networks)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses a 6to4, Teredo, NAT64 or IPv4-compatible address leads to, each with its kind."""
    if ip in _SIX_TO_FOUR:
        return [("a 6to4", ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF))]
    if ip in _TEREDO:
        server = ipaddress.IPv4Address((int(ip) >> 64) & 0xFFFFFFFF)
        client = ipaddress.IPv4Address(~int(ip) & 0xFFFFFFFF)  # stored inverted (RFC 4380)
        return [("a Teredo", server), ("a Teredo", client)]
    if ip in _NAT64:
        return [("a NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))]
    if ip in _IPV4_COMPATIBLE and int(ip) >> 24:  # not ::, ::1 or the rest of ::/104
        return [("an IPv4-compatible", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))]
    return []


def address_problem(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address, or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return address_problem(ip.ipv4_mapped)
        for kind, inner in embedded_ipv4(ip):
            problem = address_problem(inner)
            if problem is not None:
                return f"{kind} address for {inner}, {problem}"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip in _SITE_LOCAL:
        return "a site-local address"
    if any(ip in net for net in _PRIVATE):
        return "a private address"
    if not _public(ip):
        return "a reserved address"
    return None


def _public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv4Address):
        return ip.is_global
    if ip in _NAT64:
        return True  # judged by the IPv4 address it carries (address_problem)
    return ip in _GLOBAL_UNICAST and ip.is_global and ip not in _NAT64_LOCAL


def check_address(ip: IPAddress, allow: bool | tuple[IPNetwork, ...]) -> str | None:
    """The refusal message for ``ip``, or None when it may be fetched."""
    if allow is True:
        return None
    problem = address_problem(ip)
    if problem is None:
        return None
    # ::ffff:10.1.2.3 is the IPv4 host 10.1.2.3: an allowed IPv4 network covers it.
    subject = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip
    if allow and any(subject in net for net in allow):
        return None
    return f"blocked: {ip} is {problem}"


def check_addresses(addresses: Iterable[IPAddress], allow: bool | tuple[IPNetwork, ...]) -> str | None:
    """The refusal for the first address that may not be fetched, or None when all may.

    A name is refused when any of its addresses is: the connection may pick any of
    them, and a mix of public and private answers is how DNS rebinding starts.
    """
    for ip in addresses:
        problem = check_address(ip, allow)
        if problem is not None:
            return problem
    return None
