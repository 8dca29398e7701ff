"""Which addresses a crawler may fetch: the SSRF rules, free of Scrapy and Twisted.

The downloader's guard (scraperq/middlewares/ssrf.py), the browser's gate and the
Redis payload checks (scraperq/payloads.py) share these rules, and the scheduler
daemon may import them without pulling in the crawl side.

Setting: ``SCRAPERQ_ALLOW_PRIVATE`` (parsed by :func:`parse_allow_private`).
"""

from __future__ import annotations

import ipaddress

from scraperq.errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AllowPrivate = bool | tuple[IPNetwork, ...]


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


def address_problem(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address, or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return address_problem(ip.ipv4_mapped)
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved address"
    return None


def check_address(ip: IPAddress, allow: bool | tuple[IPNetwork, ...]) -> str | None:
    """The refusal message for ``ip``, or None when it may be fetched."""
    if allow is True:
        return None
    problem = address_problem(ip)
    if problem is None:
        return None
    if allow and any(ip in net for net in allow):
        return None
    return f"blocked: {ip} is {problem}"
