"""GuardedResolver on its own: what a connection is handed, for scripted DNS answers.

Twisted's ``HostnameEndpoint`` connects to exactly the addresses the resolver
reports to its receiver; the receiver here records them the same way. The DNS
answers are scripted (a list per name, one per lookup) so that a lookup that
would answer differently the second time is visible; the real DNS path is
covered by tests/test_ssrf_dns.py.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from scrapy.settings import Settings
from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IResolutionReceiver
from zope.interface import implementer

from scraperq.addresses import IPAddress, parse_allow_private
from scraperq.errors import ConfigError
from scraperq.resolver import GuardedResolver, LookupFailed, parse_dns_servers, proxy_hosts


class ScriptedDNS:
    """Answers each lookup of a name with the next of its answers (the last one repeats)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    def __call__(self, name: str) -> defer.Deferred[list[IPAddress]]:
        self.lookups.append(name)
        script = self.answers.get(name)
        if not script:
            return defer.fail(LookupFailed(f"{name}: no such name"))
        answer = script[min(self.lookups.count(name), len(script)) - 1]
        return defer.succeed([ipaddress.ip_address(a) for a in answer])


@implementer(IResolutionReceiver)
class Receiver:
    def __init__(self) -> None:
        self.addresses: list[Any] = []
        self.complete = False

    def resolutionBegan(self, resolution: Any) -> None:  # noqa: N802
        pass

    def addressResolved(self, address: Any) -> None:  # noqa: N802
        self.addresses.append(address)

    def resolutionComplete(self) -> None:  # noqa: N802
        self.complete = True


def connect_to(resolver: GuardedResolver, name: str, port: int = 80) -> list[Any]:
    """The addresses a connection to ``name`` would be handed."""
    receiver = Receiver()
    resolver.resolveHostName(receiver, name, port)
    assert receiver.complete  # never leaves a connection waiting
    return receiver.addresses


def checked(resolver: GuardedResolver, name: str, allow: Any) -> str | None:
    result: list[Any] = []
    resolver.check(name, allow).addBoth(result.append)
    [outcome] = result
    if isinstance(outcome, defer.Failure):
        outcome.raiseException()
    return outcome


class Crawl:
    """Stands for a crawler registering its policy (the resolver keeps only a weak reference)."""


ALLOW_ONE = parse_allow_private("127.0.0.1/32")


def guarded(answers: dict[str, list[list[str]]], **options: Any) -> tuple[GuardedResolver, ScriptedDNS]:
    dns = ScriptedDNS(answers)
    options.setdefault("allow", ALLOW_ONE)
    return GuardedResolver(None, dns, **options), dns


def test_a_connection_gets_the_answer_the_guard_checked_not_a_new_one() -> None:
    resolver, dns = guarded({"rebind.test": [["127.0.0.1"], ["127.0.0.2"]]})
    assert checked(resolver, "rebind.test", ALLOW_ONE) is None
    assert connect_to(resolver, "rebind.test", 8080) == [IPv4Address("TCP", "127.0.0.1", 8080)]
    assert connect_to(resolver, "rebind.test", 8080) == [IPv4Address("TCP", "127.0.0.1", 8080)]
    assert dns.lookups == ["rebind.test"]  # without a DNS cache too (none configured here)


def test_each_check_asks_dns_again_without_a_cache_and_a_refused_answer_is_not_kept() -> None:
    resolver, dns = guarded({"rebind.test": [["127.0.0.1"], ["127.0.0.2"]]})
    assert checked(resolver, "rebind.test", ALLOW_ONE) is None
    assert checked(resolver, "rebind.test", ALLOW_ONE) == "blocked: 127.0.0.2 is a loopback address"
    assert connect_to(resolver, "rebind.test") == [IPv4Address("TCP", "127.0.0.1", 80)]  # still the checked one
    assert dns.lookups == ["rebind.test", "rebind.test"]


def test_with_a_cache_the_guard_asks_dns_once() -> None:
    resolver, dns = guarded({"rebind.test": [["127.0.0.1"], ["127.0.0.2"]]}, cache_size=100)
    for _ in range(3):
        assert checked(resolver, "rebind.test", ALLOW_ONE) is None
    assert dns.lookups == ["rebind.test"]


def test_a_name_nobody_checked_is_checked_when_a_connection_asks() -> None:
    resolver, _ = guarded({"inside.test": [["10.0.0.5"]], "dual.test": [["127.0.0.1", "::1"]]})
    assert connect_to(resolver, "inside.test") == []
    assert connect_to(resolver, "dual.test") == []  # one blocked address refuses the name
    assert connect_to(resolver, "10.0.0.5") == []  # address literals too


def test_every_address_of_an_allowed_name_is_handed_out_ipv4_and_ipv6() -> None:
    resolver, _ = guarded({"site.test": [["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]]}, allow=False)
    assert connect_to(resolver, "site.test", 443) == [
        IPv4Address("TCP", "93.184.215.14", 443),
        IPv6Address("TCP", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", 443),
    ]


def test_localhost_is_loopback_without_asking_dns() -> None:
    resolver, dns = guarded({"localhost": [["93.184.215.14"]]}, allow=False)
    assert checked(resolver, "LocalHost.", False) == "blocked: 127.0.0.1 is a loopback address"
    assert checked(resolver, "app.localhost", False) == "blocked: 127.0.0.1 is a loopback address"
    assert dns.lookups == []


def test_a_name_without_addresses_is_a_lookup_failure() -> None:
    resolver, _ = guarded({})
    with pytest.raises(LookupFailed):
        checked(resolver, "nosuch.test", False)
    assert connect_to(resolver, "nosuch.test") == []


def test_the_strictest_registered_crawler_decides_what_connections_get() -> None:
    resolver, _ = guarded({"inside.test": [["10.1.0.7"]]}, allow=False)
    loose, strict = Crawl(), Crawl()
    resolver.register(loose, parse_allow_private("10.0.0.0/8"))
    assert connect_to(resolver, "inside.test") == [IPv4Address("TCP", "10.1.0.7", 80)]
    resolver.register(strict, parse_allow_private("0"))
    assert connect_to(resolver, "inside.test") == []
    resolver.unregister(strict)
    assert connect_to(resolver, "inside.test") == [IPv4Address("TCP", "10.1.0.7", 80)]


def test_a_proxy_from_the_environment_is_reached_whatever_its_address(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", "http://squid.internal.test:3128")
    monkeypatch.setenv("https_proxy", "10.0.0.9:3128")
    assert proxy_hosts() == {"squid.internal.test", "10.0.0.9"}
    settings = Settings({"SCRAPERQ_ALLOW_PRIVATE": "0"})
    crawler = type("Process", (), {"settings": settings})()
    resolver = GuardedResolver.from_crawler(crawler, None)
    resolver.lookup_addresses = ScriptedDNS({"squid.internal.test": [["10.0.0.8"]], "other.test": [["10.0.0.8"]]})
    assert connect_to(resolver, "squid.internal.test", 3128) == [IPv4Address("TCP", "10.0.0.8", 3128)]
    assert connect_to(resolver, "10.0.0.9", 3128) == [IPv4Address("TCP", "10.0.0.9", 3128)]
    assert connect_to(resolver, "other.test") == []  # the same address under another name is not exempt
    # The guard itself does not exempt a proxy's host as a target.
    assert checked(resolver, "squid.internal.test", False) == "blocked: 10.0.0.8 is a private address"


@pytest.mark.parametrize(
    ("raw", "servers"),
    [
        ("", []),
        ("10.0.0.2", [("10.0.0.2", 53)]),
        (" 127.0.0.1:5353 , [::1]:53,[fd00::2]", [("127.0.0.1", 5353), ("::1", 53), ("fd00::2", 53)]),
    ],
)
def test_dns_servers_setting(raw: str, servers: list[tuple[str, int]]) -> None:
    assert parse_dns_servers(raw) == servers


@pytest.mark.parametrize("raw", ["dns.example", "10.0.0.2:0", "10.0.0.2:dns", "[::1]x", "::1:53:x"])
def test_a_bad_dns_servers_setting_is_a_config_error_naming_it(raw: str) -> None:
    with pytest.raises(ConfigError, match="SCRAPERQ_DNS_SERVERS"):
        parse_dns_servers(raw)


def test_a_bad_dns_servers_setting_ends_the_crawl_at_start_and_the_resolver_stays_strict() -> None:
    from scrapy import Spider
    from scrapy.utils.test import get_crawler

    from scraperq.middlewares.ssrf import SSRFGuardMiddleware

    bad = {"SCRAPERQ_DNS_SERVERS": "dns.example", "SCRAPERQ_ALLOW_PRIVATE": "1"}
    with pytest.raises(ConfigError, match="'dns.example' is not a DNS server address"):
        SSRFGuardMiddleware.from_crawler(get_crawler(Spider, bad))
    # Scrapy builds the resolver before the crawler: it must not raise there, nor open anything up.
    resolver = GuardedResolver.from_crawler(type("Process", (), {"settings": Settings(bad)})(), None)
    assert resolver.default_allow is False
