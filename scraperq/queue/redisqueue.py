"""One spider's shared queue in Redis, as plain calls (no Scrapy): take, queue, settle.

Delivery is at-least-once with leases. A worker registers in ``NAME:workers``
with a lease it renews with every take and heartbeat; whatever it takes (requests, start
payloads) sits in its ``NAME:held:WORKER`` hash until it is *acknowledged*
(its outcome is final), *released* (given back untouched) or *handed off*
(replaced by a retry or redirect in the same step). When a worker's lease runs
out, any live worker's :meth:`RedisQueue.reclaim` puts what it held back in the
queue. See :mod:`scraperq.queue.scripts` for the steps and
:mod:`scraperq.queue.defaults` for the keys.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
import redis.asyncio
from redis.commands.core import Script

from scraperq.queue import defaults, scripts
from scraperq.queue.entries import Entry
from scraperq.queue.keys import QueueKeys

SEEN_CHECK = "c"  # queue unless already seen for its task
SEEN_RECORD = "a"  # dont_filter: queue anyway, but record it as seen
SEEN_IGNORE = ""


@dataclass(frozen=True)
class PushItem:
    """A request to queue, as the push script takes it."""

    body: str
    task: int | None = None
    priority: int = 0
    seen_mode: str = SEEN_IGNORE
    fingerprint: int = 0  # signed 64-bit: Redis keeps small sets of these as compact intsets
    bucket: int = 0  # unsigned 32-bit: picks the shard
    delay: float = 0.0  # seconds before it may be fetched (a delayed retry)
    handoff: Entry | None = None  # the held entry this one replaces

    def args(self) -> list[Any]:
        return [
            "" if self.task is None else str(self.task),
            self.seen_mode,
            str(self.fingerprint),
            str(self.bucket),
            str(int(self.priority)),
            repr(max(0.0, float(self.delay))),
            self.handoff.id if self.handoff else "",
            self.handoff.task_field if self.handoff else "",
            self.body,
        ]


@dataclass
class Exchanged:
    """What one :meth:`RedisQueue.exchange` round trip did."""

    pushed: int = 0
    filtered: int = 0  # already seen for their task
    stale: int = 0  # handoffs of entries no longer held here (done already, or re-delivered)
    acked: int = 0
    drained: list[int] = field(default_factory=list)  # tasks whose last entry was acknowledged
    released: int = 0
    taken: list[Entry] = field(default_factory=list)


@dataclass
class Reclaimed:
    workers: int = 0
    requeued: int = 0
    exhausted: list[Entry] = field(default_factory=list)  # held by the caller now: dead-letter them


@dataclass(frozen=True)
class Beat:
    alive: bool  # False: the worker had been taken for gone meanwhile
    epoch: str | None  # None: Redis has no epoch for this queue (it lost it, or never had one)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class QueueSizes:
    start_urls: int
    requests: int
    delayed: int
    held: int
    workers: int
    dead: int


ScriptCall = tuple[str, Script, list[Any], list[Any]]  # step name, script, keys, arguments


async def _pipeline_async(client: redis.asyncio.Redis, calls: Sequence[ScriptCall]) -> list[Any]:
    pipe = client.pipeline(transaction=False)
    for _, script, keys, args in calls:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    return list(await pipe.execute(raise_on_error=False))


def _raise_first_error(results: list[Any]) -> list[Any]:
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


def new_worker_id() -> str:
    """``host:pid:random``: which machine and process, unique across restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


# Characters of a payload a dead letter keeps; longer ones are cut (and cannot be requeued whole).
DEAD_PAYLOAD_CHARS = 2000


def dead_letter(payload: str, reason: str, *, spider: str, worker: str, deliveries: int = 0) -> str:
    """The JSON kept in ``NAME:dead``: what arrived, why it was refused, where and when.

    ``payload`` as read from the queue: bytes that were not UTF-8 are lone surrogates
    (``surrogateescape``). Such a letter shows them as ``\\xff`` in ``payload`` and keeps
    the exact bytes in ``payload_base64``, so that requeueing it gives back what arrived.
    """
    raw: bytes | None = None
    if not payload.isascii():
        try:
            payload.encode("utf-8")
        except UnicodeEncodeError:
            raw = payload.encode("utf-8", "surrogateescape") if _escaped_only(payload) else None
            payload = (raw or payload.encode("utf-8", "surrogatepass")).decode("utf-8", "backslashreplace")
    letter: dict[str, Any] = {
        "payload": payload if len(payload) <= DEAD_PAYLOAD_CHARS else payload[:DEAD_PAYLOAD_CHARS],
        "reason": reason,
        "spider": spider,
        "worker": worker,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if len(payload) > DEAD_PAYLOAD_CHARS:
        letter["payload_bytes"] = len(raw) if raw is not None else len(payload.encode("utf-8"))
    elif raw is not None:
        letter["payload_base64"] = base64.b64encode(raw).decode("ascii")
    if deliveries:
        letter["deliveries"] = deliveries
    return json.dumps(letter, ensure_ascii=False)


def _escaped_only(text: str) -> bool:
    """Whether every lone surrogate in ``text`` stands for a byte (U+DC80-U+DCFF, surrogateescape's)."""
    return all(not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in text)


class RedisQueue:
    def __init__(
        self,
        client: redis.Redis,
        keys: QueueKeys,
        *,
        worker: str | None = None,
        lease_seconds: float = defaults.LEASE_SECONDS,
        max_deliveries: int = defaults.MAX_DELIVERIES,
        seen_ttl: int = defaults.SEEN_TTL,
        dead_max: int = defaults.DEAD_MAX,
    ) -> None:
        self.client = client
        self.keys = keys
        self.worker = worker or new_worker_id()
        self.held_key = keys.held(self.worker)
        self.lease_seconds = float(lease_seconds)
        self.max_deliveries = max(1, int(max_deliveries))
        self.seen_ttl = max(1, int(seen_ttl))
        self.dead_max = max(1, int(dead_max))
        self._push = client.register_script(scripts.PUSH)
        self._pop = client.register_script(scripts.POP)
        self._feed = client.register_script(scripts.FEED)
        self._ack = client.register_script(scripts.ACK)
        self._release = client.register_script(scripts.RELEASE)
        self._dead = client.register_script(scripts.DEAD)
        self._reclaim = client.register_script(scripts.RECLAIM)
        self._heartbeat = client.register_script(scripts.HEARTBEAT)
        self._retire = client.register_script(scripts.RETIRE)
        self._rebuild_lock = client.register_script(scripts.REBUILD_LOCK)
        self._rebuilt = client.register_script(scripts.REBUILT)
        self._all_scripts = (
            self._push, self._pop, self._feed, self._ack, self._release,
            self._dead, self._reclaim, self._heartbeat, self._retire,
        )  # fmt: skip
        self._scripts_loaded = False

    # -- the hot path: one round trip --------------------------------------------

    def exchange(
        self,
        *,
        push: Sequence[PushItem] = (),
        ack: Iterable[Entry] = (),
        release: Iterable[str] = (),
        take: int = 0,
    ) -> Exchanged:
        """Queue ``push``, settle ``ack``, give back ``release``, then take up to ``take``.

        In this order and in one round trip: children are queued before the entry
        that produced them is acknowledged. Taking renews the lease even when ``take``
        is 0, so a busy worker's lease never runs out between heartbeats.
        """
        calls = self._exchange_calls(push, ack, release, take)
        return self._exchanged(calls, self._run_scripts(calls))

    async def exchange_async(
        self,
        client: redis.asyncio.Redis,
        *,
        push: Sequence[PushItem] = (),
        ack: Iterable[Entry] = (),
        release: Iterable[str] = (),
        take: int = 0,
    ) -> Exchanged:
        """:meth:`exchange` through an asyncio client of the same server: the caller's loop
        goes on with other work while Redis runs the scripts."""
        calls = self._exchange_calls(push, ack, release, take)
        if not self._scripts_loaded:
            self.load_scripts()
        results = await _pipeline_async(client, calls)
        missing = [i for i, result in enumerate(results) if isinstance(result, redis.exceptions.NoScriptError)]
        if missing:
            self.load_scripts()
            for i, result in zip(missing, await _pipeline_async(client, [calls[i] for i in missing]), strict=True):
                results[i] = result
        return self._exchanged(calls, _raise_first_error(results))

    def _exchange_calls(
        self, push: Sequence[PushItem], ack: Iterable[Entry], release: Iterable[str], take: int
    ) -> list[ScriptCall]:
        acks = [a for entry in ack for a in (entry.id, entry.task_field)]
        releases = list(release)
        calls: list[ScriptCall] = []
        if push:
            calls.append(("push", self._push, self._push_keys(), self._push_args(push)))
        if acks:
            calls.append(("ack", self._ack, [self.held_key, self.keys.outstanding, self.keys.dupefilter], acks))
        if releases:
            calls.append(("release", self._release, [self.held_key, self.keys.requests], releases))
        pop_keys = [self.keys.requests, self.keys.delayed, self.keys.workers, self.held_key]
        calls.append(("take", self._pop, pop_keys, [self.lease_seconds, self.worker, max(0, int(take))]))
        return calls

    @staticmethod
    def _exchanged(calls: Sequence[ScriptCall], results: Sequence[Any]) -> Exchanged:
        done = Exchanged()
        for (step, *_), result in zip(calls, results, strict=True):
            if step == "push":
                done.pushed, done.filtered, done.stale = (int(n) for n in result)
            elif step == "ack":
                done.acked = int(result[0])
                done.drained = [int(task) for task in result[1:]]
            elif step == "release":
                done.released = int(result)
            else:
                done.taken = [Entry.parse(m) for m in result]
        return done

    def _run_scripts(self, calls: Sequence[ScriptCall]) -> list[Any]:
        """EVALSHA each call in one pipeline; results in order.

        redis-py's script support in pipelines asks ``SCRIPT EXISTS`` before every
        execution, a second round trip on the hot path. Here the scripts are loaded
        once, and a call Redis answers NOSCRIPT (it restarted, or its script cache
        was flushed) is sent again after loading them. Calls that ran are never
        sent twice: a take that ran twice would hold entries nobody processes.
        """
        if not self._scripts_loaded:
            self.load_scripts()
        results = self._pipeline(calls)
        missing = [i for i, result in enumerate(results) if isinstance(result, redis.exceptions.NoScriptError)]
        if missing:
            self.load_scripts()
            for i, result in zip(missing, self._pipeline([calls[i] for i in missing]), strict=True):
                results[i] = result
        return _raise_first_error(results)

    def _pipeline(self, calls: Sequence[ScriptCall]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for _, script, keys, args in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        return list(pipe.execute(raise_on_error=False))

    def load_scripts(self) -> None:
        """Load every script (one round trip), so none is missing when a pipeline runs."""
        pipe = self.client.pipeline(transaction=False)
        for script in self._all_scripts:
            pipe.script_load(script.script)
        pipe.execute()
        self._scripts_loaded = True

    def push(self, items: Sequence[PushItem]) -> Exchanged:
        """Queue requests (no lease renewal, no taking)."""
        done = Exchanged()
        if items:
            result = self._push(keys=self._push_keys(), args=self._push_args(items))
            done.pushed, done.filtered, done.stale = (int(n) for n in result)
        return done

    def _push_keys(self) -> list[str]:
        k = self.keys
        return [k.requests, k.delayed, k.dupefilter, k.outstanding, self.held_key, k.sequence]

    def _push_args(self, items: Sequence[PushItem]) -> list[Any]:
        args: list[Any] = [self.seen_ttl]
        for item in items:
            args.extend(item.args())
        return args

    # -- start payloads ----------------------------------------------------------

    def feed(self, count: int) -> list[Entry]:
        """Take up to ``count`` payloads from ``start_urls`` into this worker's hold."""
        members = self._feed(
            keys=[self.keys.start_urls, self.keys.workers, self.held_key, self.keys.sequence],
            args=[max(0, int(count)), self.lease_seconds, self.worker, uuid.uuid4().hex[:12]],
        )
        return [Entry.parse(m) for m in members]

    # -- settling ------------------------------------------------------------------

    def ack(self, entries: Iterable[Entry]) -> int:
        args = [a for entry in entries for a in (entry.id, entry.task_field)]
        if not args:
            return 0
        return int(self._ack(keys=[self.held_key, self.keys.outstanding, self.keys.dupefilter], args=args)[0])

    def release(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        if not ids:
            return 0
        return int(self._release(keys=[self.held_key, self.keys.requests], args=ids))

    def dead_letter(self, letters: Iterable[tuple[Entry, str]]) -> int:
        """Move held entries to ``NAME:dead``; each pair is (entry, dead letter JSON)."""
        args: list[Any] = [self.dead_max]
        for entry, letter in letters:
            args.extend([entry.id, entry.task_field, letter])
        if len(args) == 1:
            return 0
        keys = [self.keys.dead, self.held_key, self.keys.outstanding, self.keys.dupefilter]
        return int(self._dead(keys=keys, args=args))

    # -- leases --------------------------------------------------------------------

    def heartbeat(self) -> bool:
        """Renew the lease; False when this worker had been taken for gone meanwhile."""
        return self.beat().alive

    def beat(self) -> Beat:
        """Renew the lease and read the queue's epoch, in one call."""
        gone, epoch = self._heartbeat(keys=[self.keys.workers, self.keys.epoch], args=[self.lease_seconds, self.worker])
        return Beat(alive=int(gone) == 0, epoch=_text(epoch) if epoch else None)

    # -- rebuilding from the database (see rebuild.py) ------------------------------------

    def epoch(self) -> str | None:
        value = self.client.get(self.keys.epoch)
        return _text(value) if value else None

    def lock_rebuild(self, lease_seconds: float) -> bool:
        """Take or renew the rebuild lock; False when another worker has it or the rebuild is done."""
        keys = [self.keys.rebuild_lock, self.keys.sequence, self.keys.epoch]
        return int(self._rebuild_lock(keys=keys, args=[self.worker, max(1, int(lease_seconds * 1000))])) == 1

    def finish_rebuild(self, epoch: str) -> bool:
        """Name the rebuilt queue ``epoch`` and drop the lock; False when the lock was lost meanwhile."""
        keys = [self.keys.rebuild_lock, self.keys.epoch]
        return int(self._rebuilt(keys=keys, args=[self.worker, epoch])) == 1

    def reclaim(self) -> Reclaimed:
        """Re-queue what workers whose lease ran out were holding."""
        workers, moved, exhausted = self._reclaim(
            keys=[self.keys.workers, self.keys.requests, self.held_key],
            args=[self.keys.held_prefix, self.worker, self.max_deliveries],
        )
        return Reclaimed(int(workers), int(moved), [Entry.parse(m) for m in exhausted])

    def retire(self) -> int:
        """Give back everything still held and leave the worker list."""
        return int(self._retire(keys=[self.held_key, self.keys.requests, self.keys.workers], args=[self.worker]))

    # -- looking -------------------------------------------------------------------

    def held_ids(self) -> list[str]:
        return [key.decode() if isinstance(key, bytes) else key for key in self.client.hkeys(self.held_key)]

    def backlog(self) -> int:
        return int(self.client.zcard(self.keys.requests))

    def outstanding(self, tasks: Iterable[int]) -> dict[int, int]:
        """Entries queued, delayed or held per task (0 when the task has drained)."""
        tasks = list(tasks)
        if not tasks:
            return {}
        values = self.client.hmget(self.keys.outstanding, [str(t) for t in tasks])
        return {t: int(v) if v is not None else 0 for t, v in zip(tasks, values, strict=True)}

    def sizes(self) -> QueueSizes:
        k = self.keys
        pipe = self.client.pipeline(transaction=False)
        pipe.llen(k.start_urls).zcard(k.requests).zcard(k.delayed).zrange(k.workers, 0, -1).llen(k.dead)
        start_urls, requests, delayed, workers, dead = pipe.execute()
        pipe = self.client.pipeline(transaction=False)
        for worker in workers:
            pipe.hlen(k.held(worker.decode() if isinstance(worker, bytes) else worker))
        held = sum(pipe.execute()) if workers else 0
        return QueueSizes(int(start_urls), int(requests), int(delayed), int(held), len(workers), int(dead))
