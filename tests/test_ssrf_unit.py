"""SSRF guard: which addresses are refused, SCRAPERQ_ALLOW_PRIVATE, and refusals of address literals.

End-to-end behaviour (names that resolve to private addresses, redirects) is
covered by the crawl tests; these need no network.
"""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from scrapy import Request, Spider
from scrapy.utils.test import get_crawler

from scraperq.errors import ConfigError
from scraperq.middlewares.ssrf import (
    BlockedRequest,
    SSRFGuardMiddleware,
    address_problem,
    check_address,
    check_url_scheme,
    parse_allow_private,
)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("10.0.0.5", "a private address"),
        ("172.16.3.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd00::1", "a private address"),
        ("::ffff:10.0.0.5", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("100.64.0.1", "a reserved address"),  # carrier-grade NAT: not on the public internet
    ],
)
def test_addresses_a_public_crawler_must_not_fetch(address: str, problem: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


@pytest.mark.parametrize("address", ["240.0.0.1", "255.255.255.255", "192.0.2.7", "198.18.0.1", "2001:db8::1"])
def test_reserved_and_documentation_ranges_are_refused(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None
    assert check_address(ipaddress.ip_address(address), False) is None


def test_refusal_message_names_the_address_and_why() -> None:
    assert check_address(ipaddress.ip_address("10.0.0.5"), False) == "blocked: 10.0.0.5 is a private address"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0", False),
        ("", False),
        (None, False),
        ("false", False),
        ("1", True),
        ("true", True),
        (" YES ", True),
        ("127.0.0.0/8", (ipaddress.ip_network("127.0.0.0/8"),)),
        (
            "127.0.0.0/8, 10.1.0.0/16",
            (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.1.0.0/16")),
        ),
        ("10.1.2.3", (ipaddress.ip_network("10.1.2.3/32"),)),
        ("fd00::/8", (ipaddress.ip_network("fd00::/8"),)),
    ],
)
def test_allow_private_values(raw: object, expected: object) -> None:
    assert parse_allow_private(raw) == expected


@pytest.mark.parametrize("raw", ["maybe", "127.0.0.0/8,intranet", "10.0.0.0/33", "2"])
def test_a_bad_allow_private_value_is_a_config_error_naming_it(raw: str) -> None:
    with pytest.raises(ConfigError, match="SCRAPERQ_ALLOW_PRIVATE"):
        parse_allow_private(raw)


def test_allowed_networks_open_only_those_networks() -> None:
    allow = parse_allow_private("127.0.0.0/8,10.1.0.0/16")
    assert check_address(ipaddress.ip_address("127.0.0.1"), allow) is None
    assert check_address(ipaddress.ip_address("10.1.200.3"), allow) is None
    assert check_address(ipaddress.ip_address("10.2.0.1"), allow) == "blocked: 10.2.0.1 is a private address"
    assert check_address(ipaddress.ip_address("169.254.169.254"), allow) is not None


def test_allow_all_opens_every_address() -> None:
    assert check_address(ipaddress.ip_address("169.254.169.254"), True) is None


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://example.com/", True),
        ("HTTPS://example.com/", True),
        ("file:///etc/passwd", False),
        ("ftp://example.com/x", False),
        ("gopher://example.com/", False),
        ("data:text/plain,hi", False),
        ("example.com/no-scheme", False),
    ],
)
def test_only_http_and_https_schemes(url: str, allowed: bool) -> None:
    assert (check_url_scheme(url) is None) is allowed


# -- the middleware, on address literals (no DNS involved) ---------------------------------


def guard(allow: str) -> SSRFGuardMiddleware:
    return SSRFGuardMiddleware.from_crawler(get_crawler(Spider, {"SCRAPERQ_ALLOW_PRIVATE": allow}))


def test_the_guard_refuses_a_private_address_literal_and_counts_it() -> None:
    mw = guard("0")
    with pytest.raises(BlockedRequest, match=r"blocked: 10\.0\.0\.5 is a private address"):
        asyncio.run(mw.process_request(Request("http://10.0.0.5:8080/admin")))
    with pytest.raises(BlockedRequest, match="blocked: ::1 is a loopback address"):
        asyncio.run(mw.process_request(Request("http://[::1]/")))
    assert mw.crawler.stats.get_value("scraperq/ssrf/blocked") == 2


def test_the_guard_lets_allowed_networks_through() -> None:
    mw = guard("127.0.0.0/8")
    assert asyncio.run(mw.process_request(Request("http://127.0.0.1:6800/"))) is None
    with pytest.raises(BlockedRequest):
        asyncio.run(mw.process_request(Request("http://192.168.0.1/")))


def test_the_guard_refuses_a_bad_setting_at_start_up() -> None:
    with pytest.raises(ConfigError, match="'intranet' is not a network"):
        guard("intranet")
