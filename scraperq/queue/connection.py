"""Redis clients of the queue, the CLI and ``scraperq status``, from the settings.

Built by :mod:`scraperq.redisclient` (a server or a Sentinel set, the same
``REDIS_URL`` and ``REDIS_PARAMS`` settings as scrapy-redis), with short socket
timeouts by default: calls are made from the reactor thread, and a server that
does not answer must fail fast so that the worker can back off instead of freezing. A bad URL or an unreachable server
fails at start-up with one line naming the server (password hidden).

A worker warns once at start when the server would lose queued work on a restart
(:func:`warn_if_not_persistent`).

Settings: ``REDIS_URL``, ``REDIS_PARAMS`` (extra ``redis.Redis`` keyword arguments).
"""

from __future__ import annotations

import logging
from typing import Any

import redis
import redis.asyncio

from scraperq.errors import ConfigError, StorageUnavailable, first_line
from scraperq.queue import defaults
from scraperq.redisclient import async_client, sync_client
from scraperq.storage.connection import redact_url

logger = logging.getLogger(__name__)

# What a Redis call raises when the server is down, restarting or unreachable.
REDIS_DOWN_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
)


def redis_url(settings: Any) -> str | None:
    """``REDIS_URL`` from the settings (the environment overrides it in settings.py)."""
    value = settings.get("REDIS_URL") if settings is not None else None
    text = str(value).strip() if value else ""
    return text or None


def client_from_settings(settings: Any, *, check: bool = True) -> redis.Redis:
    """A client for ``REDIS_URL``; with ``check``, one PING so a bad server fails now."""
    url = redis_url(settings)
    if url is None:
        raise ConfigError("REDIS_URL is not set: set it to the shared queue, e.g. redis://127.0.0.1:6379/0")
    params = dict(defaults.REDIS_PARAMS)
    params.update(settings.getdict("REDIS_PARAMS") if hasattr(settings, "getdict") else {})
    try:
        client = sync_client(url, **params)
    except ValueError as exc:
        raise ConfigError(f"REDIS_URL {redact_url(url)!r} is not a Redis URL: {exc}") from None
    if check:
        try:
            client.ping()
        except (*REDIS_DOWN_ERRORS, redis.AuthenticationError, redis.ResponseError) as exc:
            client.close()
            raise StorageUnavailable(f"cannot connect to Redis at {redact_url(url)}: {describe_error(exc)}") from None
    return client


def async_client_from_settings(settings: Any) -> redis.asyncio.Redis:
    """A client of the same server with the same options, for calls made on the reactor's asyncio loop."""
    params = dict(defaults.REDIS_PARAMS)
    params.update(settings.getdict("REDIS_PARAMS") if hasattr(settings, "getdict") else {})
    return async_client(redis_url(settings) or "", **params)


def describe_error(exc: BaseException) -> str:
    """One line saying what went wrong with a Redis call (no URL, so no password)."""
    return first_line(exc)


def check_connection(settings: Any) -> None:
    """Fail now, in one line, if ``REDIS_URL`` is not a Redis that answers."""
    client_from_settings(settings).close()


# -- persistence ---------------------------------------------------------------------------------


def persistence_problem(client: redis.Redis) -> str | None:
    """What a restart of this Redis would lose of the queue, or None when it keeps it (or will not say).

    ``CONFIG GET`` tells both the append-only file and the snapshot schedule; managed
    services often refuse CONFIG, and then ``INFO persistence`` tells at least the former.
    """
    try:
        config = client.config_get("appendonly") | client.config_get("save")
    except redis.ResponseError:  # CONFIG disabled or renamed
        try:
            aof = client.info("persistence").get("aof_enabled")
        except redis.ResponseError:
            return None
        return None if str(aof) == "1" else "appendonly is off (CONFIG is not available to read the snapshot schedule)"
    if str(config.get("appendonly", "")).lower() == "yes":
        return None
    save = str(config.get("save", "")).strip()
    if not save:
        return "no persistence at all (appendonly no, no save points): a restart loses every queued entry"
    return f"appendonly is off: a restart loses what changed since the last snapshot (save {save})"


def warn_if_not_persistent(client: redis.Redis, where: str) -> None:
    """Log once, at a worker's start, that this Redis would lose queued work on a restart."""
    try:
        problem = persistence_problem(client)
    except REDIS_DOWN_ERRORS:
        return  # the queue reports an unreachable Redis itself
    if problem is not None:
        logger.warning(
            "Redis at %s: %s; set appendonly yes and appendfsync everysec (deploy/redis.conf)",
            where,
            problem,
        )
