"""``REDIS_URL`` naming a Sentinel set: the URL form.

Workers, the CLI and the daemon's client following a real failover: tests/test_ledger_faults.py.
"""

from __future__ import annotations

import pytest

from scraperq.redisclient import SentinelUrl, is_sentinel_url, parse_sentinel_url, sync_client
from scraperq.storage.connection import redact_url


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        (
            "redis+sentinel://10.0.0.1:26379,10.0.0.2:26380/mymaster/3",
            SentinelUrl((("10.0.0.1", 26379), ("10.0.0.2", 26380)), "mymaster", 3),
        ),
        ("redis+sentinel://sentinel.local/queue", SentinelUrl((("sentinel.local", 26379),), "queue", 0)),
        (
            "rediss+sentinel://:s%40cret@[::1]:5000,h2/mymaster?sentinel_password=other",
            SentinelUrl(
                (("::1", 5000), ("h2", 26379)), "mymaster", 0, None, "s@cret", sentinel_password="other", ssl=True
            ),
        ),
        ("redis+sentinel://app:pw@h1:1/m/0", SentinelUrl((("h1", 1),), "m", 0, "app", "pw")),
    ],
)
def test_a_sentinel_url_names_the_sentinels_the_service_and_the_database(url: str, parsed: SentinelUrl) -> None:
    assert is_sentinel_url(url)
    assert parse_sentinel_url(url) == parsed


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("redis+sentinel://h1:26379", "the path must be /SERVICE or /SERVICE/DB"),
        ("redis+sentinel://h1:26379/m/x", "the database number 'x' is not a number"),
        ("redis+sentinel://h1:port/m", "Sentinel port 'port' of 'h1:port' is not a number"),
        ("redis+sentinel://h1:70000/m", "out of range"),
        ("redis+sentinel:///m", "no Sentinel host"),
        ("redis+sentinel://h1/m?master=x", "unknown option 'master'"),
    ],
)
def test_a_malformed_sentinel_url_is_refused_saying_why(url: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_sentinel_url(url)


def test_passwords_of_a_sentinel_url_are_redacted() -> None:
    url = "redis+sentinel://:secret@h1:1,h2:2/m/0?sentinel_password=other"
    assert redact_url(url) == "redis+sentinel://:***@h1:1,h2:2/m/0?sentinel_password=***"


def test_a_plain_url_is_still_one_server() -> None:
    assert not is_sentinel_url("redis://127.0.0.1:6379/0")
    client = sync_client("redis://127.0.0.1:6379/4", socket_timeout=1, redis_cls="ignored")
    assert client.connection_pool.connection_kwargs["db"] == 4
    client.close()
