"""The SSRF address rules against a reference classification written here, on generated addresses.

The reference is built independently of scraperq/addresses.py: Python's
``ipaddress`` decides for plain addresses (``is_global``, multicast), and the
IPv6 forms that carry an IPv4 address are taken apart byte by byte from the
RFCs' layouts (RFC 4291 mapped/compatible, RFC 3056 6to4, RFC 4380 Teredo,
RFC 6052 and RFC 8215 NAT64). Nothing here touches the network: the addresses
are only classified.
"""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from scraperq.addresses import IPAddress, address_problem, check_address, check_addresses
from scraperq.rendering.guard import BrowserGuard, Refused

# -- the reference -------------------------------------------------------------------------


def reference_public_v4(ip: ipaddress.IPv4Address) -> bool:
    return ip.is_global and not ip.is_multicast


def reference_public(ip: IPAddress) -> bool:
    """Public by the reference: a global IPv4 address, or an IPv6 one that leads only to public hosts."""
    if ip.version == 4:
        return reference_public_v4(ip)
    b = ip.packed
    v4_tail = ipaddress.IPv4Address(b[12:])
    if b[:12] == bytes(10) + b"\xff\xff":  # ::ffff:a.b.c.d is the IPv4 host itself
        return reference_public_v4(v4_tail)
    if b[:12] == bytes.fromhex("0064ff9b" + "00" * 8):  # NAT64 well-known prefix, /96
        return reference_public_v4(v4_tail)
    if b[:6] == bytes.fromhex("0064ff9b0001"):  # local-use NAT64: not globally reachable
        return False
    if b[:2] == b"\x20\x02" and not reference_public_v4(ipaddress.IPv4Address(b[2:6])):  # 6to4
        return False
    if b[:4] == b"\x20\x01\x00\x00":  # Teredo: server, then the client obfuscated by XOR
        server = ipaddress.IPv4Address(b[4:8])
        client = ipaddress.IPv4Address(bytes(x ^ 0xFF for x in b[12:16]))
        if not (reference_public_v4(server) and reference_public_v4(client)):
            return False
    if b[0] >> 5 != 0b001:  # only 2000::/3 is global unicast (fec0::/10, fc00::/7, ::/96 ... are not)
        return False
    return ip.is_global


# -- generated addresses ------------------------------------------------------------------------

ipv4 = st.ip_addresses(v=4)
# IPv4 addresses that matter most: loopback, private, link-local, CGNAT, multicast, and public ones.
interesting_v4 = st.one_of(
    ipv4,
    st.sampled_from(["127.0.0.1", "10.0.0.5", "172.16.3.4", "192.168.1.1", "169.254.169.254", "100.64.0.1"]).map(
        ipaddress.IPv4Address
    ),
    st.sampled_from(["0.0.0.0", "224.0.0.1", "255.255.255.255", "8.8.8.8", "93.184.215.14"]).map(ipaddress.IPv4Address),
)


def under(prefix: str, v4_at: int | None = None) -> st.SearchStrategy[IPAddress]:
    """Addresses in ``prefix``, with an interesting IPv4 address written at bit ``v4_at`` when given."""
    net = ipaddress.IPv6Network(prefix)
    host_bits = 128 - net.prefixlen
    rest = st.integers(min_value=0, max_value=2**host_bits - 1)
    if v4_at is None:
        return rest.map(lambda n: ipaddress.IPv6Address(int(net.network_address) | n))
    shift = 128 - v4_at - 32
    return st.tuples(rest, interesting_v4).map(
        lambda pair: ipaddress.IPv6Address(
            int(net.network_address) | (pair[0] & ~(0xFFFFFFFF << shift)) | (int(pair[1]) << shift)
        )
    )


def teredo() -> st.SearchStrategy[IPAddress]:
    def build(server: ipaddress.IPv4Address, flags: int, client: ipaddress.IPv4Address) -> IPAddress:
        return ipaddress.IPv6Address(
            (0x20010000 << 96) | (int(server) << 64) | (flags << 32) | (~int(client) & 0xFFFFFFFF)
        )

    return st.builds(build, interesting_v4, st.integers(0, 2**32 - 1), interesting_v4)


addresses = st.one_of(
    interesting_v4,
    st.ip_addresses(v=6),
    under("2000::/3"),
    under("::ffff:0:0/96", v4_at=96),
    under("::/96", v4_at=96),
    under("64:ff9b::/96", v4_at=96),
    under("64:ff9b:1::/48", v4_at=96),
    under("2002::/16", v4_at=16),
    teredo(),
    under("fec0::/10"),
    under("fc00::/7"),
    under("fe80::/10"),
    under("ff00::/8"),
)


@given(addresses)
@example(ipaddress.ip_address("2002:7f00:1::1"))
@example(ipaddress.ip_address("fec0::1"))
@example(ipaddress.ip_address("64:ff9b::a00:5"))
@example(ipaddress.ip_address("::7f00:1"))
def test_the_rules_agree_with_the_reference(ip: IPAddress) -> None:
    assert (address_problem(ip) is None) is reference_public(ip)
    assert (check_address(ip, False) is None) is reference_public(ip)


@given(addresses)
def test_a_refusal_names_the_address(ip: IPAddress) -> None:
    problem = check_address(ip, False)
    if problem is not None:
        assert problem.startswith(f"blocked: {ip} is a")


@given(st.lists(addresses, min_size=1, max_size=5))
def test_a_name_passes_only_when_every_address_does(ips: list[IPAddress]) -> None:
    assert (check_addresses(ips, False) is None) is all(reference_public(ip) for ip in ips)


@given(addresses, st.lists(st.tuples(interesting_v4, st.integers(8, 32)), max_size=3))
def test_allowed_networks_open_exactly_their_addresses(
    ip: IPAddress, allowed: list[tuple[ipaddress.IPv4Address, int]]
) -> None:
    networks = tuple(ipaddress.ip_network(f"{address}/{bits}", strict=False) for address, bits in allowed)
    # ::ffff:a.b.c.d reaches the IPv4 host, so an IPv4 network covers it; 6to4 and the rest do not.
    host = ip.ipv4_mapped if ip.version == 6 and ip.ipv4_mapped else ip
    expected = reference_public(ip) or any(host in net for net in networks)
    assert (check_address(ip, networks) is None) is expected


# -- what each form is called ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("2002:7f00:1::1", "a 6to4 address for 127.0.0.1, a loopback address"),
        ("2002:a00:5::1", "a 6to4 address for 10.0.0.5, a private address"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffa", "a Teredo address for 10.0.0.5, a private address"),
        ("64:ff9b::a9fe:a9fe", "a NAT64 address for 169.254.169.254, a link-local address"),
        ("::7f00:1", "an IPv4-compatible address for 127.0.0.1, a loopback address"),
        ("::ffff:169.254.169.254", "a link-local address"),
        ("fec0::1", "a site-local address"),
        ("64:ff9b:1::808:808", "a reserved address"),
        ("::808:808", "a reserved address"),
    ],
)
def test_ipv6_forms_that_carry_ipv4_say_where_they_lead(address: str, problem: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


@pytest.mark.parametrize("address", ["2002:808:808::1", "64:ff9b::808:808", "::ffff:8.8.8.8", "2606:4700::1111"])
def test_ipv6_forms_of_public_hosts_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


# -- the browser's gate applies the same rules ------------------------------------------------


@pytest.mark.parametrize("address", ["2002:7f00:1::1", "fec0::1", "64:ff9b::a00:5", "::ffff:10.0.0.5"])
def test_the_browser_gate_refuses_what_the_rules_refuse(address: str) -> None:
    with pytest.raises(Refused, match=r"^blocked: "):
        asyncio.run(BrowserGuard(False).check(address, 80))


def test_the_browser_gate_refuses_a_name_resolving_to_loopback() -> None:
    with pytest.raises(Refused, match=r"is a loopback address"):
        asyncio.run(BrowserGuard(False).check("localhost", 80))
