"""Cluster-wide politeness: requests to a site go only when Redis says every worker together may.

Each site (download slot, see :mod:`scraperq.queue.sitelimits`) whose policy limits it has,
per spider, two keys that expire when the site goes quiet:

``NAME:slot:SITE``         hash  ``next``: when the next request may start (Redis time);
                                 ``adaptive``: AutoThrottle's delay, from every worker's latencies
``NAME:slot:SITE:active``  zset  concurrency leases: token -> when it runs out

Before the scheduler hands a request of such a site to the engine, the worker *reserves*
a turn (one script, :data:`RESERVE`): Redis answers the start time it gets, which is the
site's ``next`` (or now), and moves ``next`` one delay on; with a concurrency limit it
also takes a lease, or says the site is full. The request waits in the worker until its
time (an asyncio timer, no download slot taken, other sites' requests go on), then goes
to the engine. A worker holds at most one reservation per site, so N workers reserve at
most N turns ahead. Leases are given back when the request leaves the downloader, and
run out on their own (``DOWNLOAD_TIMEOUT`` plus the queue lease) if the worker died.

Scrapy's own per-worker delay for such a site is set to 0 in its downloader slot (the
shared one replaces it; both would add up), and Scrapy's AutoThrottle's local delay with
it: the adaptive delay is computed in Redis with AutoThrottle's formula instead.
Sites without a delay, concurrency limit or AutoThrottle never ask Redis.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import redis
from scrapy import Request, signals
from scrapy.utils.httpobj import urlparse_cached

from scraperq.queue.sitelimits import SiteLimits, SitePolicy
from scraperq.queue.tracking import LEASE_META, Held

logger = logging.getLogger(__name__)

SLOT_KEY = "%(spider)s:slot:%(slot)s"
FULL_POLL_SECONDS = 0.05  # a full site is asked again this often (and at once when this worker frees a lease)
ERROR_RETRY_SECONDS = 1.0

_NOW = r"""
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS: site hash, site leases
# ARGV: delay, gap factor, concurrency, lease seconds, token, autothrottle (1/0), start delay, ttl
# Returns {1, seconds until the reserved start, delay} or {0, 0, delay} when the site is full.
RESERVE = (
    _NOW
    + r"""
local delay = tonumber(ARGV[1])
if ARGV[6] == '1' then
  local adaptive = tonumber(redis.call('HGET', KEYS[1], 'adaptive') or ARGV[7])
  if adaptive > delay then delay = adaptive end
end
local conc = tonumber(ARGV[3])
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= conc then return {0, '0', tostring(delay)} end
end
local at = tonumber(redis.call('HGET', KEYS[1], 'next') or '0')
if at < now then at = now end
if delay > 0 then
  redis.call('HSET', KEYS[1], 'next', string.format('%.6f', at + delay * tonumber(ARGV[2])))
  redis.call('EXPIRE', KEYS[1], ARGV[8])
end
if conc > 0 then
  redis.call('ZADD', KEYS[2], at + tonumber(ARGV[4]), ARGV[5])
  redis.call('EXPIRE', KEYS[2], ARGV[8])
end
return {1, string.format('%.6f', at - now), tostring(delay)}
"""
)

# KEYS: site leases; ARGV: tokens
GIVE_BACK = r"""
return redis.call('ZREM', KEYS[1], unpack(ARGV))
"""

# KEYS: site hash
# ARGV: latency, target concurrency, min delay, max delay, start delay, status 200 (1/0), ttl
# Scrapy's AutoThrottle step, on the delay every worker shares.
THROTTLE = r"""
local old = tonumber(redis.call('HGET', KEYS[1], 'adaptive') or ARGV[5])
local target = tonumber(ARGV[1]) / tonumber(ARGV[2])
local new = (old + target) / 2
if target > new then new = target end
new = math.min(math.max(tonumber(ARGV[3]), new), tonumber(ARGV[4]))
if ARGV[6] ~= '1' and new <= old then return tostring(old) end
redis.call('HSET', KEYS[1], 'adaptive', tostring(new))
redis.call('EXPIRE', KEYS[1], ARGV[7])
return tostring(new)
"""


class SlotGate:
    """Holds back requests of limited sites until Redis gives them a turn; one per crawl."""

    def __init__(
        self,
        crawler: Any,
        client: redis.asyncio.Redis,
        spider: Any,
        *,
        on_ready: Callable[[], None],
        lease_seconds: float,
    ) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.spider_name = spider.name
        self.limits = SiteLimits(settings)
        self.on_ready = on_ready
        self.lease_seconds = settings.getfloat("DOWNLOAD_TIMEOUT", 180) + lease_seconds
        self.ttl = int(max(60.0, 2 * self.lease_seconds))
        self.target = max(0.1, settings.getfloat("AUTOTHROTTLE_TARGET_CONCURRENCY", 1.0))
        self.max_delay = settings.getfloat("AUTOTHROTTLE_MAX_DELAY", 60.0)
        self.start_delay = settings.getfloat("AUTOTHROTTLE_START_DELAY", 5.0)
        self._reserve = client.register_script(RESERVE)
        self._give_back = client.register_script(GIVE_BACK)
        self._throttle = client.register_script(THROTTLE)
        self._waiting: dict[str, deque[Held]] = {}
        self._asking: set[str] = set()  # sites with a reservation asked for, or waited for
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._polling: set[str] = set()  # sites found full, asked again after FULL_POLL_SECONDS
        self._reserved: dict[str, str] = {}  # site -> concurrency lease of a turn not come yet
        self._granted: deque[Held] = deque()
        self._count = 0  # waiting plus granted, not yet taken by the engine
        self._stopped = False
        self._error_logged = False
        self._get_slot_key = getattr(getattr(crawler.engine, "downloader", None), "get_slot_key", None)
        crawler.signals.connect(self._left_downloader, signal=signals.request_left_downloader)
        crawler.signals.connect(self._downloaded, signal=signals.response_downloaded)

    # -- the scheduler's side --------------------------------------------------------------

    def admit(self, held: Held) -> bool:
        """True when ``held`` may go to the engine now; else it waits here for its turn."""
        site = self.site_of(held.request)
        if not self.limits.policy(site).shared:
            return True
        self._waiting.setdefault(site, deque()).append(held)
        self._count += 1
        self._ask(site)
        return False

    def next_granted(self) -> Held | None:
        if not self._granted:
            return None
        held = self._granted.popleft()
        self._count -= 1
        self._local_delay_off(self.site_of(held.request))
        return held

    def __len__(self) -> int:
        return self._count

    def stop(self) -> None:
        """The crawl closes: forget what waits (the scheduler gives it back), free leases not used."""
        self._stopped = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        unused = [h for h in self._granted if LEASE_META in h.request.meta]
        for held in unused:
            self._free(held.request)
        for site, token in self._reserved.items():  # else they would hold the site until they run out
            asyncio.ensure_future(self._give_back_now(site, [token]))
        self._reserved.clear()
        self._waiting.clear()
        self._granted.clear()
        self._count = 0

    def site_of(self, request: Request) -> str:
        if self._get_slot_key is not None:
            return str(self._get_slot_key(request))
        return str(request.meta.get("download_slot") or urlparse_cached(request).hostname or "")

    # -- asking Redis ----------------------------------------------------------------------------

    def _key(self, site: str) -> str:
        return SLOT_KEY % {"spider": self.spider_name, "slot": site}

    def _ask(self, site: str) -> None:
        if self._stopped or site in self._asking or not self._waiting.get(site):
            return
        self._asking.add(site)
        asyncio.ensure_future(self._reserve_turn(site))

    def _later(self, site: str, seconds: float, then: Callable[[str], None]) -> None:
        self._timers[site] = asyncio.get_event_loop().call_later(seconds, self._fire, site, then)

    def _fire(self, site: str, then: Callable[[str], None]) -> None:
        self._timers.pop(site, None)
        if not self._stopped:
            then(site)

    def _ask_again(self, site: str) -> None:
        self._polling.discard(site)
        self._asking.discard(site)
        self._ask(site)

    async def _reserve_turn(self, site: str) -> None:
        policy = self.limits.policy(site)
        token = uuid.uuid4().hex[:16]
        gap = max(0.0, 1 + random.uniform(-policy.jitter, policy.jitter))  # noqa: S311 - spacing, not secrecy
        key = self._key(site)
        args = [
            policy.delay, gap, policy.concurrency, self.lease_seconds, token,
            1 if policy.autothrottle else 0, max(self.start_delay, policy.delay), self.ttl,
        ]  # fmt: skip
        try:
            granted, wait, _ = await self._reserve(keys=[key, key + ":active"], args=args)
        except (redis.RedisError, OSError) as exc:
            self._redis_failed(exc)
            self._later(site, ERROR_RETRY_SECONDS, self._ask_again)
            return
        self._error_logged = False
        if self._stopped:
            if int(granted) and policy.concurrency:
                await self._give_back_now(site, [token])
            return
        if not int(granted):
            self._polling.add(site)
            self._later(site, FULL_POLL_SECONDS, self._ask_again)
            return
        seconds = max(0.0, float(wait))
        if policy.concurrency:
            self._reserved[site] = token
        self._later(site, seconds, lambda s: self._turn(s, token if policy.concurrency else None))

    def _turn(self, site: str, token: str | None) -> None:
        """The reserved time has come: the site's first waiting request goes to the engine."""
        waiting = self._waiting.get(site)
        self._asking.discard(site)
        self._reserved.pop(site, None)
        if not waiting:
            if token is not None:
                asyncio.ensure_future(self._give_back_now(site, [token]))
            return
        held = waiting.popleft()
        if not waiting:
            del self._waiting[site]
        if token is not None:
            held.request.meta[LEASE_META] = (site, token)
        self._granted.append(held)
        self._ask(site)
        self.on_ready()

    def _redis_failed(self, exc: BaseException) -> None:
        if not self._error_logged:
            logger.warning("Site limits: Redis did not answer (%s); requests to limited sites wait", exc)
            self._error_logged = True

    # -- leases and AutoThrottle ----------------------------------------------------------

    def _free(self, request: Request) -> None:
        lease = request.meta.pop(LEASE_META, None)
        if lease is None:
            return
        site, token = lease
        asyncio.ensure_future(self._give_back_now(site, [token]))

    async def _give_back_now(self, site: str, tokens: list[str]) -> None:
        try:
            await self._give_back(keys=[self._key(site) + ":active"], args=tokens)
        except (redis.RedisError, OSError) as exc:
            self._redis_failed(exc)  # the lease runs out on its own
            return
        if site in self._polling:  # a turn may be free now: ask at once rather than at the next poll
            timer = self._timers.pop(site, None)
            if timer is not None:
                timer.cancel()
            self._ask_again(site)

    def _left_downloader(self, request: Request, spider: Any = None) -> None:
        self._free(request)

    def _downloaded(self, response: Any, request: Request, spider: Any = None) -> None:
        site = self.site_of(request)
        policy = self.limits.policy(site)
        if not policy.shared:
            return
        self._local_delay_off(site)
        latency = request.meta.get("download_latency")
        if not policy.autothrottle or latency is None or request.meta.get("autothrottle_dont_adjust_delay"):
            return
        asyncio.ensure_future(self._adapt(site, policy, float(latency), response.status == 200))

    async def _adapt(self, site: str, policy: SitePolicy, latency: float, ok: bool) -> None:
        args = [
            latency, self.target, policy.delay, self.max_delay,
            max(self.start_delay, policy.delay), 1 if ok else 0, self.ttl,
        ]  # fmt: skip
        try:
            await self._throttle(keys=[self._key(site)], args=args)
        except (redis.RedisError, OSError) as exc:
            self._redis_failed(exc)

    def _local_delay_off(self, site: str) -> None:
        """The shared delay replaces this worker's own for the site (both would add up)."""
        downloader = getattr(self.crawler.engine, "downloader", None)
        slot = getattr(downloader, "slots", {}).get(site)
        if slot is not None and slot.delay:
            slot.delay = 0
