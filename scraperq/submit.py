"""Submitting URLs from outside a crawl (the scheduler's HTTP API), without Scrapy or Twisted.

The same steps as ``scraperq enqueue``: every URL checked with
:func:`scraperq.payloads.check_start_url`, all refusals reported together, then
:func:`scraperq.payloads.enqueue_urls` records a pending task per URL and pushes
its payload to ``SPIDER:start_urls``. The Redis client comes from
:mod:`scraperq.redisclient`, as the crawl side's does (``REDIS_URL`` and
``REDIS_PARAMS``, the queue's defaults first), without importing Scrapy.

Settings: ``REDIS_URL``, ``REDIS_PARAMS``, ``REDIS_START_URLS_KEY``, ``SCRAPERQ_ALLOW_PRIVATE``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from scraperq.errors import BadInput, ConfigError, StorageUnavailable, first_line
from scraperq.payloads import check_start_url, enqueue_urls, parse_allow_private, start_urls_key
from scraperq.queue import defaults
from scraperq.redisclient import sync_client
from scraperq.storage.connection import Database, redact_url


@dataclass(frozen=True)
class Refused:
    """One URL that cannot be queued: its position in the submission, and why."""

    index: int
    error: str


class RefusedUrls(BadInput):
    """Some submitted URLs were refused; nothing was queued. ``refused`` lists each."""

    def __init__(self, refused: list[Refused]) -> None:
        first = refused[0]
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        super().__init__(f"urls[{first.index}]: {first.error}{more}")
        self.refused = refused


def redis_client(settings: Mapping[str, Any] | Any) -> redis.Redis:
    """A client of ``REDIS_URL``, checked with one PING; ConfigError when unset, StorageUnavailable when down."""
    url = str(settings.get("REDIS_URL") or "").strip()
    if not url:
        raise ConfigError("REDIS_URL is not set: set it to the shared queue, e.g. redis://127.0.0.1:6379/0")
    params: dict[str, Any] = dict(defaults.REDIS_PARAMS)
    extra = settings.get("REDIS_PARAMS") or {}
    params.update(extra if isinstance(extra, Mapping) else {})
    try:
        client = sync_client(url, **params)
    except ValueError as exc:
        raise ConfigError(f"REDIS_URL {redact_url(url)!r} is not a Redis URL: {exc}") from None
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        raise StorageUnavailable(f"cannot connect to Redis at {redact_url(url)}: {first_line(exc)}") from None
    return client


def checked_urls(raw: Sequence[object], settings: Mapping[str, Any] | Any) -> list[str]:
    """The URLs, stripped; :class:`RefusedUrls` naming every one that cannot be queued."""
    allow = parse_allow_private(settings.get("SCRAPERQ_ALLOW_PRIVATE", "0"))
    urls: list[str] = []
    refused: list[Refused] = []
    for index, value in enumerate(raw):
        try:
            urls.append(check_start_url(value, allow))
        except BadInput as exc:
            refused.append(Refused(index, str(exc)))
    if refused:
        raise RefusedUrls(refused)
    return urls


def submit_urls(
    db: Database,
    client: redis.Redis,
    raw: Sequence[object],
    settings: Mapping[str, Any] | Any,
    *,
    spider: str,
    priority: int,
    source: str,
) -> list[int]:
    """Check every URL, then record and queue them all; the task ids, in order."""
    urls = checked_urls(raw, settings)
    key = start_urls_key(spider, settings.get("REDIS_START_URLS_KEY"))
    return enqueue_urls(db, client, urls, spider=spider, priority=priority, source=source, key=key)
