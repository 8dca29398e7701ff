"""``SCHEDULER``: the shared Redis queue when ``REDIS_URL`` is set, else Scrapy's own.

:class:`Scheduler` is the dotted path in settings.py. It builds the in-process
:class:`~scraperq.queue.local.DelayingScheduler` when ``REDIS_URL`` is unset
(``scrapy crawl generic -a url=...`` needs no Redis) and :class:`RedisScheduler`
when it is set.

:class:`RedisScheduler` keeps scrapy-redis' shape (requests in ``NAME:requests``,
the seen-set in ``NAME:dupefilter``) and fixes what loses work there:

* Requests are JSON (:mod:`~scraperq.queue.serialize`), never pickle.
* Taking is not destructive: a taken entry is held under this worker's lease
  until its results are committed (:mod:`~scraperq.queue.tracking`), then
  acknowledged; a worker killed at any moment has its entries re-delivered to
  live workers once its lease runs out (:mod:`~scraperq.queue.leases`).
* A request is marked seen in the step that queues it, and the seen-set is per
  task (:mod:`~scraperq.queue.dupefilter`), so a later run fetches a URL again.
* Delayed retries (``meta["not_before"]``) wait in ``NAME:delayed``: they hold no
  download slot and survive restarts.
* Closing never deletes shared keys (no ``SCHEDULER_PERSIST`` flush): a worker
  gives back what it holds and leaves.
* Per-site politeness holds for the whole cluster: a request to a site with a delay,
  a concurrency limit or AutoThrottle waits in the worker for a turn that Redis gives
  out to every worker of the spider (:mod:`~scraperq.queue.slotgate`); other sites'
  requests go on meanwhile.
* Redis going away is logged and waited out with backoff (:mod:`~scraperq.queue.guard`);
  nothing is acknowledged until it is back, so nothing acknowledged is lost.

The crawl does not wait for Redis: round trips run on the reactor's asyncio loop
(an asyncio Redis client), one at a time and in order, while the worker goes on.
It keeps up to ``SCRAPERQ_QUEUE_PREFETCH`` entries ready for the engine and asks
for more while it still has some, sending buffered pushes and acknowledgements
along; when nothing is ready the engine is told as soon as entries arrive. An idle
worker looks for work every ``SCRAPERQ_QUEUE_POLL_SECONDS``. Closing waits for the
round trip on its way. It needs Twisted's asyncio reactor (the project's
``TWISTED_REACTOR``, which scrapy-playwright needs as well).
A crawl started with URLs (``-a url=``) works on the shared queue until its own
tasks have nothing left in it, then finishes; a worker (no URLs, see
``TaskSpider``) also turns ``NAME:start_urls`` payloads into tasks
(:mod:`~scraperq.queue.feeder`) and never finishes on its own.

Settings: ``REDIS_URL``, ``REDIS_PARAMS``, ``SCHEDULER_QUEUE_KEY``,
``SCHEDULER_DUPEFILTER_KEY``, ``REDIS_START_URLS_KEY``, ``DUPEFILTER_CLASS``,
``SCRAPERQ_LEASE_SECONDS``, ``SCRAPERQ_MAX_DELIVERIES``, ``SCRAPERQ_QUEUE_PREFETCH``,
``SCRAPERQ_QUEUE_POLL_SECONDS``, ``SCRAPERQ_SEEN_TTL``, ``SCRAPERQ_DEAD_MAX``,
``SCRAPERQ_SHARED_POLITENESS`` and the site limits' settings (:mod:`~scraperq.queue.sitelimits`),
and the feeder's settings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Container
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import redis
from scrapy import Request, signals
from scrapy.core.scheduler import BaseScheduler
from scrapy.utils.misc import build_from_crawler, load_object
from scrapy.utils.reactor import is_asyncio_reactor_installed
from twisted.internet.defer import Deferred

from scraperq.crawlstore import CrawlStore
from scraperq.errors import ConfigError
from scraperq.meta import NOT_BEFORE, TASK_ROOT
from scraperq.queue import defaults
from scraperq.queue.connection import (
    async_client_from_settings,
    client_from_settings,
    redis_url,
    warn_if_not_persistent,
)
from scraperq.queue.dupefilter import TaskDupeFilter, task_of
from scraperq.queue.entries import REQUEST, START, Entry
from scraperq.queue.feeder import StartFeeder
from scraperq.queue.guard import RedisGuard, upkeep_loop
from scraperq.queue.keys import QueueKeys
from scraperq.queue.leases import LeaseKeeper
from scraperq.queue.local import DelayingScheduler
from scraperq.queue.rebuild import QueueRebuild
from scraperq.queue.redisqueue import (
    SEEN_CHECK,
    SEEN_IGNORE,
    SEEN_RECORD,
    Exchanged,
    PushItem,
    RedisQueue,
    dead_letter,
)
from scraperq.queue.serialize import UnserializableRequest, request_from_json, request_to_json
from scraperq.queue.slotgate import SlotGate
from scraperq.queue.startreader import start_key_of
from scraperq.queue.sweeper import Sweeper
from scraperq.queue.tracking import HeldEntries
from scraperq.settling import TaskSettler
from scraperq.storage.connection import redact_url

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler
    from twisted.internet.task import LoopingCall

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.1  # how often finished entries are settled and buffered writes sent
SEQUENCE_LEAP = 2**24  # more entries than a replica can lag behind; 2**24 such leaps fit in an entry id
WAITING_PER_PREFETCH = 4  # entries waiting for their site's turn, at most this x the prefetch, before taking stops


@dataclass
class _RoundTrip:
    """One exchange on its way to Redis: what it carries, until its answer is in."""

    pushes: list[PushItem]
    acks: list[Entry]
    releases: list[str]
    take: int
    task: asyncio.Future[Exchanged] = field(init=False)

    def holding(self) -> str:
        return f"{len(self.pushes)} requests to queue and {len(self.acks)} acknowledgements"


class Scheduler(BaseScheduler):
    """Picks the scheduler from the settings: Redis when ``REDIS_URL`` is set."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BaseScheduler:  # type: ignore[override]
        if redis_url(crawler.settings):
            return RedisScheduler.from_crawler(crawler)
        return DelayingScheduler.from_crawler(crawler)


class RedisScheduler(BaseScheduler):
    def __init__(
        self,
        crawler: Crawler,
        client: Any,
        dupefilter: Any,
        *,
        async_client: Any,
        lease_seconds: float = defaults.LEASE_SECONDS,
        max_deliveries: int = defaults.MAX_DELIVERIES,
        prefetch: int = defaults.PREFETCH,
        poll_seconds: float = defaults.POLL_SECONDS,
        seen_ttl: int = defaults.SEEN_TTL,
        dead_max: int = defaults.DEAD_MAX,
        shared_politeness: bool = True,
    ) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.client = client
        self.df = dupefilter
        self.lease_seconds = max(1.0, lease_seconds)
        self.max_deliveries = max_deliveries
        self.prefetch = max(1, prefetch)
        self.poll_seconds = max(0.05, poll_seconds)
        self.seen_ttl = seen_ttl
        self.dead_max = dead_max
        self.shared_politeness = shared_politeness
        self.gate: SlotGate | None = None
        self.guard = RedisGuard(redact_url(redis_url(crawler.settings) or ""), crawler.stats, on_back=self._redis_back)
        self.queue: RedisQueue
        self.spider: Spider
        self.store: CrawlStore
        self.feeder: StartFeeder
        self.leases: LeaseKeeper
        self.rebuild: QueueRebuild
        self.worker_mode = False
        self.closing = False
        self.held = HeldEntries()
        self._memory: deque[Request] = deque()  # requests that cannot be JSON (logged)
        self._pushes: list[PushItem] = []
        self._acks: list[Entry] = []
        self._releases: list[str] = []
        self._settling: set[str] = set()  # finished, waiting for their results to be committed
        self._own_tasks: set[int] = set()
        self._own_checked = 0.0
        self._own_pending = True
        self._last_empty_take = 0.0
        self._unserializable_logged = False
        self._tick_loop: LoopingCall | None = None
        self._async_client = async_client
        self._in_flight: _RoundTrip | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedisScheduler:
        settings = crawler.settings
        if not is_asyncio_reactor_installed():
            raise ConfigError(
                "the shared queue needs TWISTED_REACTOR = 'twisted.internet.asyncioreactor.AsyncioSelectorReactor'"
            )
        client = client_from_settings(settings)
        warn_if_not_persistent(client, redact_url(redis_url(settings) or ""))
        dupefilter = build_from_crawler(load_object(settings["DUPEFILTER_CLASS"]), crawler)
        return cls(
            crawler,
            client,
            dupefilter,
            async_client=async_client_from_settings(settings),
            lease_seconds=settings.getfloat("SCRAPERQ_LEASE_SECONDS", defaults.LEASE_SECONDS),
            max_deliveries=settings.getint("SCRAPERQ_MAX_DELIVERIES", defaults.MAX_DELIVERIES),
            prefetch=min(
                settings.getint("SCRAPERQ_QUEUE_PREFETCH", defaults.PREFETCH),
                2 * settings.getint("CONCURRENT_REQUESTS", defaults.PREFETCH),
            ),
            poll_seconds=settings.getfloat("SCRAPERQ_QUEUE_POLL_SECONDS", defaults.POLL_SECONDS),
            seen_ttl=settings.getint("SCRAPERQ_SEEN_TTL", defaults.SEEN_TTL),
            dead_max=settings.getint("SCRAPERQ_DEAD_MAX", defaults.DEAD_MAX),
            shared_politeness=settings.getbool("SCRAPERQ_SHARED_POLITENESS", True),
        )

    # -- Scrapy's scheduler interface -------------------------------------------------

    def open(self, spider: Spider) -> None:
        self.spider = spider
        self.store = CrawlStore.for_crawler(self.crawler)
        self.queue = RedisQueue(
            self.client,
            QueueKeys.for_spider(spider.name, self.crawler.settings, start_urls=start_key_of(spider)),
            lease_seconds=self.lease_seconds,
            max_deliveries=self.max_deliveries,
            seen_ttl=self.seen_ttl,
            dead_max=self.dead_max,
        )
        if not isinstance(self.df, TaskDupeFilter):
            logger.warning(
                "DUPEFILTER_CLASS %s is not a TaskDupeFilter: duplicates are checked in this process only,"
                " and a request can be marked seen without being queued",
                type(self.df).__name__,
            )
        slot = getattr(self.crawler.engine, "_slot", None)
        if not isinstance(getattr(slot, "inprogress", None), set) or not hasattr(slot, "nextcall"):
            raise ConfigError("this Scrapy version does not expose the engine's requests in progress")
        if self.shared_politeness:
            self.gate = SlotGate(
                self.crawler, self._async_client, spider, on_ready=self._wake_engine, lease_seconds=self.lease_seconds
            )
        self.feeder = StartFeeder.from_scheduler(self)
        self.rebuild = QueueRebuild.from_scheduler(self)
        self.leases = LeaseKeeper(self)
        self.settler = TaskSettler.for_crawler(self.crawler)
        self.settler.queue_counts = True  # tasks end when the queue says they have drained
        self.sweeper = Sweeper(self)
        self.queue.heartbeat()
        self.crawler.signals.connect(self._response_received, signal=signals.response_received)
        self._tick_loop = upkeep_loop(self._tick, TICK_SECONDS)
        self.leases.start()
        self.sweeper.start()
        logger.info(
            "Shared queue %s at %s (worker %s, lease %.0fs)",
            self.queue.keys.requests,
            self.guard.where,
            self.queue.worker,
            self.lease_seconds,
        )

    def close(self, reason: str) -> Deferred[None] | None:
        """Settle what finished, give back the rest, leave; never delete shared keys."""
        self.closing = True
        self.feeder.stop()
        if self.gate is not None:
            self.gate.stop()  # what waits for its site's turn is given back with the rest
        self.sweeper.stop()
        if self._tick_loop is not None and self._tick_loop.running:
            self._tick_loop.stop()
        if self._in_flight is not None:  # its answer first (taken in by _answered)
            waiting: Deferred[None] = Deferred.fromFuture(self._in_flight.task)
            return waiting.addBoth(lambda _: self._close_now())
        self._close_now()
        return None

    def _close_now(self) -> None:
        # The engine finishes every request it has before closing the scheduler.
        finished = self.held.finished(())
        self._releases.extend(entry.id for entry in self.held.not_started())
        self._sync(take=0)
        self.store.after_commit(partial(self._settle_last, finished))

    def has_pending_requests(self) -> bool:
        if self._memory or self._pushes or self._in_flight or self.held.ready_count() or self._waiting():
            return True
        if self.worker_mode:
            return True
        return self._own_tasks_pending()

    def enqueue_request(self, request: Request) -> bool:
        handoff = self.held.handoff(request)
        if not request.dont_filter and self._seen_here(request):
            self.df.log(request, self.spider)
            if handoff is not None:
                self._settle_after_commit([handoff])
            return False
        try:
            item = self.push_item(request, handoff=handoff)
        except UnserializableRequest as exc:
            self._keep_in_memory(request, exc, handoff)
            return True
        self._pushes.append(item)
        self.count("scheduler/enqueued/redis")
        if handoff is None and not self.worker_mode and request.meta.get(TASK_ROOT) and item.task is not None:
            self._own_tasks.add(item.task)
            self._own_pending = True
        if len(self._pushes) >= 500:
            self._send(take=0)
        return True

    def next_request(self) -> Request | None:
        if self._memory:
            return self._memory.popleft()
        held = self._next_to_go()
        take = self._wanted(sending=False)
        if take:
            self._send(take=take)  # ahead of need: the engine gets them when they arrive
        if held is None:
            return None
        self.count("scheduler/dequeued/redis")
        return held.request

    def __len__(self) -> int:
        return len(self._memory) + self.held.ready_count() + self._waiting()

    def _next_to_go(self) -> Any:
        """The next held entry the engine may have: one whose site's turn came, else the first
        ready one whose site has no shared limit (the others wait for their turn)."""
        if self.gate is None:
            return self.held.next_ready()
        held = self.gate.next_granted()
        if held is not None:
            self.held.go(held)
            return held
        while (held := self.held.next_ready()) is not None:
            if self.gate.admit(held):
                return held
            self.held.wait(held)
        return None

    def _waiting(self) -> int:
        return len(self.gate) if self.gate is not None else 0

    # -- building entries ---------------------------------------------------------------

    def _seen_here(self, request: Request) -> bool:
        """A duplicate this process can tell without Redis (the rest the push script filters)."""
        if isinstance(self.df, TaskDupeFilter):
            return self.df.remembered(self.df.seen_key(request))
        return bool(self.df.request_seen(request))

    def push_item(self, request: Request, *, handoff: Entry | None = None, seen_mode: str | None = None) -> PushItem:
        """``request`` as the push script takes it (raises UnserializableRequest).

        A task's own request is queued once per task, ``dont_filter`` or not, unless it
        replaces an attempt of itself (a retry, a redirect): a rebuild of the queue
        and the start payload or crawl that queues it too then make one entry.
        """
        body = request_to_json(request, self.spider)
        fingerprint, bucket = 0, 0
        if not isinstance(self.df, TaskDupeFilter):
            seen_mode = SEEN_IGNORE
        else:
            key = self.df.seen_key(request)
            if seen_mode is None:
                again = request.dont_filter and not (
                    request.meta.get(TASK_ROOT) and (handoff is None or handoff.kind == START)
                )
                seen_mode = SEEN_RECORD if again else SEEN_CHECK
            fingerprint, bucket = key.fingerprint, key.bucket
            if not request.meta.get(TASK_ROOT):  # a task's own page is met once: remembering it only costs memory
                self.df.remember(key)  # in the seen-set once this push is through
        due = request.meta.get(NOT_BEFORE)
        return PushItem(
            body=body,
            task=task_of(request),
            priority=int(request.priority),
            seen_mode=seen_mode,
            fingerprint=fingerprint,
            bucket=bucket,
            delay=max(0.0, float(due) - time.time()) if due else 0.0,
            handoff=handoff,
        )

    def _keep_in_memory(self, request: Request, exc: Exception, handoff: Entry | None) -> None:
        # Scrapy does the same with requests its disk queues cannot pickle: keep them
        # in this process. They are not shared and do not survive a crash.
        if not self._unserializable_logged:
            logger.warning(
                "Keeping %s in this worker's memory: %s (no more such requests will be logged)", request, exc
            )
            self._unserializable_logged = True
        self.count("scheduler/unserializable")
        self._memory.append(request)
        if handoff is not None:
            self._settle_after_commit([handoff])

    # -- taking -----------------------------------------------------------------------

    def _may_take(self) -> bool:
        return not self.closing and (self.worker_mode or self._own_tasks_pending())

    def _wanted(self, *, sending: bool) -> int:
        """How many entries to ask for now: enough to fill the prefetch, or 0.

        A round trip that goes anyway (``sending``) tops the prefetch up; otherwise
        the worker asks once it is down to half. Answers come back on the next turn
        of a busy reactor, tens of milliseconds, and an engine that finds nothing
        ready idles its download slots until then.
        """
        room = self.prefetch - self.held.ready_count()
        if room <= 0 or self._memory or not self._may_take():
            return 0
        if self._waiting() >= WAITING_PER_PREFETCH * self.prefetch:
            return 0  # enough waits for slow sites here: leave the rest to other workers
        if not sending and room < self.prefetch - self.prefetch // 2:
            return 0
        if self._pushes:
            return room  # new work of our own on its way: the queue is not empty
        # The queue was found empty: ask again shortly while pages are in progress (they
        # may add work, here or on other workers), every poll interval when idle.
        wait = self.poll_seconds / 5 if self._in_engine() else self.poll_seconds
        return room if time.monotonic() - self._last_empty_take >= wait else 0

    def _take(self, entries: list[Entry]) -> int:
        """Track taken entries, ready for the engine; how many requests that made."""
        taken, starts, letters = 0, [], []
        for entry in entries:
            if entry.kind == START:
                starts.append(entry)
                continue
            try:
                if entry.kind != REQUEST:
                    raise ValueError(f"unknown entry kind {entry.kind!r}")
                request = request_from_json(entry.body, self.spider)
            except (ValueError, TypeError, KeyError) as exc:
                letter = dead_letter(
                    entry.body,
                    f"cannot rebuild the request: {exc}",
                    spider=self.spider.name,
                    worker=self.queue.worker,
                )
                letters.append((entry, letter))
                continue
            self.held.add(entry, request)
            taken += 1
        if letters:
            self.dead_letter_entries(letters)
        if starts:
            self.feeder.redelivered(starts)
        return taken

    def _wake_engine(self) -> None:
        """Have the engine ask for requests now (it would otherwise wait up to 5 s)."""
        slot = getattr(self.crawler.engine, "_slot", None)
        if slot is not None:
            slot.nextcall.schedule()

    # -- settling -----------------------------------------------------------------------

    def _response_received(self, response: Any, request: Request, spider: Any = None) -> None:
        self.held.response_received(request)

    def _tick(self) -> None:
        finished = self.held.finished(self._in_engine())
        if finished:
            self._settle_after_commit(finished)
        self._pump()

    def _in_engine(self) -> Container[Request]:
        # Scrapy has no signal for "this request is completely done". Its engine keeps
        # every request it works on in its slot (what the telnet console's est() shows as
        # engine._slot.inprogress) until the response has gone through the spider and
        # the items through the pipelines: leaving it is that moment.
        slot = getattr(self.crawler.engine, "_slot", None)
        return slot.inprogress if slot is not None else ()

    def _settle_after_commit(self, entries: list[Entry]) -> None:
        self._settling.update(entry.id for entry in entries)
        self.store.after_commit(partial(self._settled, entries))

    def _settled(self, entries: list[Entry], committed: bool) -> None:
        self._settling.difference_update(entry.id for entry in entries)
        if committed:
            self._acks.extend(entries)
        else:
            self._releases.extend(entry.id for entry in entries)

    def _settle_last(self, finished: list[Entry], committed: bool) -> None:
        """The crawl is closing and its last results are written (or could not be)."""
        self._settled(finished, committed)
        self.guard.try_now()  # one last try even if Redis was failing
        self._sync(take=0)
        returned = self.guard.call(self.queue.retire)
        if returned is None:
            logger.warning("Could not give back what this worker holds: it returns to the queue when the lease ends")
        elif returned:
            logger.info("Gave back %d unfinished entries to the queue", returned)
        self.leases.stop()
        self.client.close()
        asyncio.ensure_future(self._async_client.aclose())

    def dead_letter_entries(self, letters: list[tuple[Entry, str]]) -> None:
        done = self.guard.call(partial(self.queue.dead_letter, letters))
        if done is not None:
            self.count("scraperq/queue/dead", done)

    def release_later(self, entry_ids: list[str]) -> None:
        self._releases.extend(entry_ids)

    def known_entry_ids(self) -> set[str]:
        """Every held entry this worker has in hand, whatever it is doing with it."""
        known = {h.entry.id for h in self.held} | self._settling | self.feeder.busy
        trips = [(self._pushes, self._acks, self._releases)]
        if self._in_flight is not None:
            trips.append((self._in_flight.pushes, self._in_flight.acks, self._in_flight.releases))
        for pushes, acks, releases in trips:
            known.update(entry.id for entry in acks)
            known.update(releases)
            known.update(item.handoff.id for item in pushes if item.handoff is not None)
        return known

    def _redis_back(self) -> None:
        """Redis answers again, maybe as another server: a replica promoted by Sentinel may lag
        behind the primary that failed, and then what this worker pushed last is not in it.
        So it forgets the links it remembers as queued, and moves the entry sequence on so
        that no new entry takes the id of one this worker still has in hand."""
        self.forget_seen()
        self.guard.call(partial(self.client.incrby, self.queue.keys.sequence, SEQUENCE_LEAP))

    def forget_seen(self) -> None:
        """Redis lost the queue: the links this worker remembers as queued are not any more."""
        if isinstance(self.df, TaskDupeFilter):
            self.df.forget()

    def count(self, stat: str, value: int = 1) -> None:
        if value and self.stats is not None:
            self.stats.inc_value(stat, value)

    # -- the round trip -------------------------------------------------------------------

    def _pump(self) -> None:
        """Start a round trip if anything waits to be sent or the worker runs low."""
        sending = bool(self._pushes or self._acks or self._releases)
        take = self._wanted(sending=sending)
        if take or sending:
            self._send(take=take)

    def _send(self, *, take: int) -> None:
        """Send buffered pushes, acknowledgements and releases, and take ``take`` entries,
        without waiting; unless a round trip is on its way or Redis is backing off."""
        if self._in_flight is not None or self.closing or not self.guard.available():
            return
        trip = _RoundTrip(self._pushes, self._acks, self._releases, take)
        self._pushes, self._acks, self._releases = [], [], []
        self._in_flight = trip
        exchange = self.queue.exchange_async(
            self._async_client, push=trip.pushes, ack=trip.acks, release=trip.releases, take=take
        )
        trip.task = asyncio.ensure_future(exchange)
        trip.task.add_done_callback(lambda _: self._answered(trip))

    def _answered(self, trip: _RoundTrip) -> None:
        """Take in the answer of ``trip``."""
        if self._in_flight is not trip:
            return
        self._in_flight = None
        error = ConnectionError("the round trip was cancelled") if trip.task.cancelled() else trip.task.exception()
        if error is not None:  # keep what it carried for the next try, in order
            self._pushes[:0], self._acks[:0], self._releases[:0] = trip.pushes, trip.acks, trip.releases
            if not isinstance(error, redis.RedisError):
                logger.error("Queue round trip failed", exc_info=error)
            self.guard.failed(error, holding=trip.holding())
            return
        self.guard.succeeded()
        done = trip.task.result()
        self._count_exchange(done, take=trip.take)
        if self._take(done.taken):
            self._wake_engine()
        if not self.closing:
            self._pump()  # what was buffered meanwhile, or more work if still low

    def round_trip_in_flight(self) -> bool:
        return self._in_flight is not None

    def _sync(self, *, take: int) -> None:
        """A round trip made here, waiting for Redis: for closing."""
        pushes, acks, releases = self._pushes, self._acks, self._releases
        self._pushes, self._acks, self._releases = [], [], []
        exchange = partial(self.queue.exchange, push=pushes, ack=acks, release=releases, take=take)
        done = self.guard.call(exchange, holding=f"{len(pushes)} requests to queue and {len(acks)} acknowledgements")
        if done is None:  # keep them for the next try, in order
            self._pushes[:0], self._acks[:0], self._releases[:0] = pushes, acks, releases
            return
        self._count_exchange(done, take=take)
        self._take(done.taken)

    def _count_exchange(self, done: Exchanged, *, take: int) -> None:
        if done.drained:  # every page of these tasks is settled: they end
            self.settler.drained(done.drained)
        self.count("scraperq/queue/pushed", done.pushed)
        self.count("dupefilter/filtered", done.filtered)
        self.count("scraperq/queue/acked", done.acked)
        self.count("scraperq/queue/released", done.released)
        self.count("scraperq/queue/taken", len(done.taken))
        if take and not done.taken:
            self._last_empty_take = time.monotonic()

    # -- tasks of a crawl started with URLs -------------------------------------------------

    def _own_tasks_pending(self) -> bool:
        """Whether the tasks this crawl started still have entries queued or held anywhere."""
        if not self._own_tasks:
            return False
        if self._pushes or self._in_flight:
            return True  # some may not be in Redis yet: its counts would say drained
        now = time.monotonic()
        if now - self._own_checked < self.poll_seconds:
            return self._own_pending
        counts = self.guard.call(partial(self.queue.outstanding, self._own_tasks))
        if counts is None:
            return True  # cannot tell while Redis is away: keep waiting
        self._own_checked = now
        if not any(counts.values()):
            # Drained, or lost: a Redis that lost the queue also says nothing is left.
            epoch = self.guard.call(self.queue.epoch)
            if epoch is None or epoch != self.rebuild.epoch:
                self.rebuild.check(epoch)
                return True  # until the rebuild has queued them again (or found them ended)
        self._own_tasks = {t for t, n in counts.items() if n > 0}
        self._own_pending = bool(self._own_tasks)
        return self._own_pending

    # -- worker mode ------------------------------------------------------------------------

    async def serve_start_urls(self) -> None:
        """Turn ``NAME:start_urls`` payloads into tasks and queued requests until closed."""
        self.worker_mode = True
        logger.info(
            "Worker %s waiting for work on %s and %s",
            self.queue.worker,
            self.queue.keys.start_urls,
            self.queue.keys.requests,
        )
        await self.feeder.serve()


async def serve_start_urls(crawler: Crawler) -> None:
    """Worker mode for a spider: returns only when the crawl closes."""
    scheduler = crawler.engine.scheduler if crawler.engine is not None else None
    if not isinstance(scheduler, RedisScheduler):
        raise ConfigError(
            "a worker needs the shared queue: set REDIS_URL and SCHEDULER = 'scraperq.queue.scheduler.Scheduler'"
        )
    await scheduler.serve_start_urls()
