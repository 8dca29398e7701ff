"""What keeps a worker going when something fails: Redis calls and upkeep loops.

A worker's Redis calls go through :meth:`RedisGuard.call`, which answers ``None``
instead of raising while Redis is unreachable (or refusing: out of memory,
read-only replica, loading), logs it and backs off. Callers keep what they meant
to send and send it again later, so nothing is acknowledged that Redis did not take.

:func:`upkeep_loop` runs a periodic step that an unexpected error must not stop:
a Twisted LoopingCall stops for good at the first exception, and without its
upkeep a worker would acknowledge nothing and hold its lease for ever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from twisted.internet import task

from scraperq.queue.connection import describe_error

logger = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0


class RedisGuard:
    def __init__(self, where: str, stats: Any = None, *, on_back: Callable[[], None] | None = None) -> None:
        self.where = where  # the URL without its password, for the log
        self.stats = stats
        self.on_back = on_back  # called once each time Redis answers again after failing
        self._down_until = 0.0  # monotonic time before which Redis is not tried again
        self._backoff = 0.0

    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def try_now(self) -> None:
        """Forget the backoff: the next call goes to Redis (a last try before closing)."""
        self._down_until = 0.0

    def call(self, call: Callable[[], T], *, holding: str = "") -> T | None:
        """``call()``, or None while Redis is away; ``holding`` says what waits, for the log."""
        if not self.available():
            return None
        try:
            result = call()
        except redis.RedisError as exc:
            self.failed(exc, holding=holding)
            return None
        self.succeeded()
        return result

    def failed(self, exc: BaseException, *, holding: str = "") -> None:
        """A call failed: log it and back off (also for calls made elsewhere: the asyncio round trips)."""
        self._backoff = min(MAX_BACKOFF, self._backoff * 2 if self._backoff else FIRST_BACKOFF)
        self._down_until = time.monotonic() + self._backoff
        logger.warning(
            "Redis at %s is unreachable or refusing (%s)%s; trying again in %.1fs",
            self.where,
            describe_error(exc),
            f"; holding {holding}" if holding else "",
            self._backoff,
        )
        if self.stats is not None:
            self.stats.inc_value("scraperq/queue/redis_errors")

    def succeeded(self) -> None:
        if self._backoff:
            logger.info("Redis at %s is back", self.where)
            self._backoff = 0.0
            if self.on_back is not None:
                self.on_back()


def upkeep_loop(step: Callable[[], None], interval: float, *, now: bool = False) -> task.LoopingCall:
    """Run ``step`` every ``interval`` seconds from now on, logging (not raising) its errors."""

    def guarded() -> None:
        try:
            step()
        except Exception:
            logger.exception("Queue upkeep failed; trying again in %.1fs", interval)

    loop = task.LoopingCall(guarded)
    loop.start(interval, now=now)
    return loop
