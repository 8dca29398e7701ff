"""The one place a Redis client is built, for the crawl side, the CLI and the scheduler daemon.

``REDIS_URL`` names one server (``redis://``, ``rediss://``, ``unix://``: redis-py's
forms) or a Sentinel set that watches a primary and its replicas::

    redis+sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...]/SERVICE[/DB][?sentinel_password=...]

for example ``redis+sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/mymaster/0``
(``rediss+sentinel://`` for TLS to the primary). The password is the primary's; the
Sentinels' own, when they have one, is ``sentinel_password``. Clients of a Sentinel set
ask a Sentinel for the primary on every new connection and drop connections to a
server that is no longer the primary (redis-py's ``redis.sentinel``), so after a
failover the next call after the one that failed goes to the new primary: workers
back off for that one call, as for any Redis outage (:mod:`scraperq.queue.guard`).

No Scrapy here: the scheduler daemon builds its clients with this module too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel

SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}  # scheme -> TLS to the primary
SENTINEL_PORT = 26379

# Options of redis.Redis that are the Sentinels' business too (the rest are the primary's only).
_SENTINEL_OPTIONS = ("socket_timeout", "socket_connect_timeout", "socket_keepalive", "health_check_interval")


@dataclass(frozen=True)
class SentinelUrl:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    ssl: bool = False


def is_sentinel_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SENTINEL_SCHEMES


def parse_sentinel_url(url: str) -> SentinelUrl:
    """The parts of a ``redis+sentinel://`` URL; ValueError saying what is wrong."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SENTINEL_SCHEMES:
        raise ValueError(f"a Sentinel URL starts with {' or '.join(s + '://' for s in SENTINEL_SCHEMES)}")
    hosts = parts.netloc.rsplit("@", 1)[-1]
    sentinels = tuple(_host_port(host) for host in hosts.split(",") if host)
    if not sentinels:
        raise ValueError("no Sentinel host: redis+sentinel://HOST:PORT[,HOST:PORT...]/SERVICE[/DB]")
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError("the path must be /SERVICE or /SERVICE/DB (the name the Sentinels monitor)")
    try:
        db = int(path[1]) if len(path) == 2 else 0
    except ValueError:
        raise ValueError(f"the database number {path[1]!r} is not a number") from None
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"sentinel_password"})
    if unknown:
        raise ValueError(f"unknown option {unknown[0]!r} (only sentinel_password is read)")
    userinfo = parts.netloc.rsplit("@", 1)[0] if "@" in parts.netloc else ""
    username, _, password = userinfo.partition(":")
    return SentinelUrl(
        sentinels=sentinels,
        service=path[0],
        db=db,
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_password=query.get("sentinel_password", [None])[0],
        ssl=SENTINEL_SCHEMES[scheme],
    )


def _host_port(text: str) -> tuple[str, int]:
    if text.startswith("["):  # [IPv6]:port
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    if not host:
        raise ValueError(f"Sentinel host {text!r} has no name")
    try:
        number = int(port) if port else SENTINEL_PORT
    except ValueError:
        raise ValueError(f"Sentinel port {port!r} of {text!r} is not a number") from None
    if not 0 < number < 65536:
        raise ValueError(f"Sentinel port {number} of {text!r} is out of range")
    return host, number


def _split(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    primary = {k: v for k, v in params.items() if k != "redis_cls"}  # scrapy-redis' option, not redis-py's
    sentinel = {k: v for k, v in primary.items() if k in _SENTINEL_OPTIONS}
    return primary, sentinel


def sync_client(url: str, **params: Any) -> redis.Redis:
    """A client of ``url`` (a server or a Sentinel set); ValueError for a URL that is neither."""
    if not is_sentinel_url(url):
        primary, _ = _split(params)
        return redis.Redis.from_url(url, **primary)
    where = parse_sentinel_url(url)
    primary, sentinel = _split(params)
    if where.sentinel_password:
        sentinel["password"] = where.sentinel_password
    if where.ssl:
        primary["connection_class"] = redis.sentinel.SentinelManagedSSLConnection
    watch = redis.sentinel.Sentinel(list(where.sentinels), sentinel_kwargs=sentinel, **primary)
    return watch.master_for(where.service, db=where.db, username=where.username, password=where.password)


def async_client(url: str, **params: Any) -> redis.asyncio.Redis:
    """The same as :func:`sync_client`, for an asyncio loop (the worker's round trips)."""
    if not is_sentinel_url(url):
        primary, _ = _split(params)
        return redis.asyncio.Redis.from_url(url, **primary)
    where = parse_sentinel_url(url)
    primary, sentinel = _split(params)
    if where.sentinel_password:
        sentinel["password"] = where.sentinel_password
    if where.ssl:
        primary["connection_class"] = redis.asyncio.sentinel.SentinelManagedSSLConnection
    watch = redis.asyncio.sentinel.Sentinel(list(where.sentinels), sentinel_kwargs=sentinel, **primary)
    return watch.master_for(where.service, db=where.db, username=where.username, password=where.password)
