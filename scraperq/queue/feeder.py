"""A worker's side of ``NAME:start_urls``: payloads become tasks and queued requests.

Payloads are taken in batches into the worker's held hash (so a worker killed
half-way loses none), checked (:func:`scraperq.payloads.parse_payload`), given a
``tasks`` row (once, by token: :mod:`scraperq.queue.taskrows`) unless they name
one, made into the spider's start request (``spider.start_request(url, **meta)``,
with the payload's priority) and queued in ``NAME:requests`` in the same step
that settles the payload. Every batch is queued in one step, so priorities
among the payloads taken together are honoured from the first request on.

A payload that cannot be crawled goes to ``NAME:dead`` with the reason, counted
in ``scraperq/queue/dead``; the worker goes on. A payload naming a task that
does not exist, belongs to another spider or is already final is refused too.

Payloads are taken in batches while fewer than ``SCRAPERQ_FEED_BACKLOG`` requests wait
in ``NAME:requests``, and a twentieth of a batch per poll past that, so a flood of URLs
waits in ``start_urls`` while a task submitted during a big crawl still gets its turn.

Settings: ``SCRAPERQ_ALLOW_PRIVATE``, ``SCRAPERQ_MAX_PAYLOAD_BYTES``,
``SCRAPERQ_FEED_BATCH``, ``SCRAPERQ_FEED_BACKLOG``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet import task, threads

from scraperq.errors import BadInput, StorageUnavailable
from scraperq.middlewares.tasks import TASK_ID, TASK_ROOT
from scraperq.payloads import StartPayload, parse_allow_private, parse_payload
from scraperq.queue import defaults
from scraperq.queue.entries import Entry
from scraperq.queue.redisqueue import PushItem, dead_letter
from scraperq.queue.serialize import UnserializableRequest
from scraperq.queue.taskrows import TaskState, create_tasks_once, task_states
from scraperq.storage.tasks import NewTask

if TYPE_CHECKING:
    from scraperq.queue.scheduler import RedisScheduler

logger = logging.getLogger(__name__)

Parsed = tuple[Entry, str, StartPayload]  # entry, token, payload

DB_RETRY_SECONDS = 5.0


async def sleep(seconds: float) -> None:
    from twisted.internet import reactor

    await maybe_deferred_to_future(task.deferLater(reactor, seconds, lambda: None))


class StartFeeder:
    def __init__(
        self,
        scheduler: RedisScheduler,
        *,
        allow: Any = False,
        max_bytes: int = defaults.MAX_PAYLOAD_BYTES,
        batch: int = defaults.FEED_BATCH,
        backlog: int = defaults.FEED_BACKLOG,
    ) -> None:
        self.scheduler = scheduler
        self.queue = scheduler.queue
        self.store = scheduler.store
        self.spider = scheduler.spider
        self.stats = scheduler.stats
        self.allow = allow
        self.max_bytes = max_bytes
        self.batch = max(1, batch)
        self.backlog = max(1, backlog)
        self._retry: list[Entry] = []  # taken, not yet queued or dead-lettered (Redis or the database was away)
        self._stopped = False
        self._working: set[str] = set()  # ids of the entries a process() call has in hand
        self._stuck: set[str] = set()  # ids of entries a bug stopped: held until the worker leaves

    @classmethod
    def from_scheduler(cls, scheduler: RedisScheduler) -> StartFeeder:
        settings = scheduler.crawler.settings
        return cls(
            scheduler,
            allow=parse_allow_private(settings.get("SCRAPERQ_ALLOW_PRIVATE", "0")),
            max_bytes=settings.getint("SCRAPERQ_MAX_PAYLOAD_BYTES", defaults.MAX_PAYLOAD_BYTES),
            batch=settings.getint("SCRAPERQ_FEED_BATCH", defaults.FEED_BATCH),
            backlog=settings.getint("SCRAPERQ_FEED_BACKLOG", defaults.FEED_BACKLOG),
        )

    def stop(self) -> None:
        self._stopped = True

    async def serve(self) -> None:
        """Take payloads while the crawl runs; returns when it closes."""
        while not self._stopped:
            entries = self._next_batch()
            if not entries:
                await sleep(self.scheduler.poll_seconds)
                continue
            await self._process_or_hold(entries)

    def _next_batch(self) -> list[Entry]:
        if not self.scheduler.guard.available():
            return []
        if self._retry:
            entries, self._retry = self._retry, []
            return entries
        backlog = self.scheduler.guard.call(self.queue.backlog)
        if backlog is None:
            return []
        # Past the backlog a few payloads still come in each poll: new tasks then take their
        # turn in the queue (fair share) rather than wait for a big crawl to drain it.
        count = self.batch if backlog < self.backlog else max(1, self.batch // 20)
        return self.scheduler.guard.call(partial(self.queue.feed, count)) or []

    def redelivered(self, entries: list[Entry]) -> None:
        """Start payloads that came back through the queue (their first worker is gone)."""
        self._working |= {entry.id for entry in entries}  # now: the coroutine starts later
        deferred_from_coro(self._process_or_hold(entries))

    async def _process_or_hold(self, entries: list[Entry]) -> None:
        try:
            await self.process(entries)
        except Exception:
            # A bug, not bad input: keep serving. The batch stays held by this worker (not
            # handed out again and again) and goes back to the queue when the worker leaves.
            logger.exception("Could not turn %d start payloads into requests", len(entries))
            self._stuck |= {entry.id for entry in entries}

    @property
    def busy(self) -> set[str]:
        """Ids of the start entries this feeder has in hand (being processed or to retry)."""
        return self._working | self._stuck | {entry.id for entry in self._retry}

    async def process(self, entries: list[Entry]) -> None:
        ids = {entry.id for entry in entries}
        self._working |= ids
        try:
            await self._process(entries)
        finally:
            self._working -= ids

    async def _process(self, entries: list[Entry]) -> None:
        letters: list[tuple[Entry, str]] = []
        parsed: list[Parsed] = []
        for entry in entries:
            token, raw = entry.start_payload()
            try:
                parsed.append((entry, token, parse_payload(raw, allow=self.allow, max_bytes=self.max_bytes)))
            except BadInput as exc:
                letters.append((entry, self._letter(raw, str(exc), entry)))
        created: dict[str, int] = {}
        states: dict[int, TaskState] = {}
        if parsed:
            job_id = self.store.job_id
            try:
                created, states = await maybe_deferred_to_future(threads.deferToThread(self._task_rows, parsed, job_id))
            except StorageUnavailable as exc:
                logger.warning(
                    "The database is unavailable, %d start payloads wait %.0fs: %s", len(parsed), DB_RETRY_SECONDS, exc
                )
                await sleep(DB_RETRY_SECONDS)
                self._retry.extend(entry for entry, _, _ in parsed)
                parsed = []
        pushes: list[PushItem] = []
        for entry, token, payload in parsed:
            try:
                task_id = self._task_for(payload, token, created, states)
                pushes.append(self._push_item(entry, payload, task_id))
            except BadInput as exc:
                letters.append((entry, self._letter(payload_text(entry), str(exc), entry)))
        if letters:
            self.scheduler.dead_letter_entries(letters)
        if pushes:
            done = self.scheduler.guard.call(partial(self.queue.push, pushes))
            if done is None:
                self._retry.extend(item.handoff for item in pushes if item.handoff is not None)
            elif self.stats is not None:
                self.stats.inc_value("scraperq/queue/fed", done.pushed)

    def _task_rows(self, parsed: Sequence[Parsed], job_id: str | None) -> tuple[dict[str, int], dict[int, TaskState]]:
        """Check the tasks payloads name and create the others (once per token). In a thread."""
        named = [payload.task_id for _, _, payload in parsed if payload.task_id is not None]
        new = [
            (
                token,
                NewTask(
                    spider=self.spider.name,
                    url=payload.url,
                    priority=payload.priority,
                    source="redis",
                    meta=payload.meta,
                    job_id=job_id,
                ),
            )
            for _, token, payload in parsed
            if payload.task_id is None
        ]
        with self.store.db.transaction() as cur:
            states = task_states(cur, named) if named else {}
            created = create_tasks_once(cur, new) if new else {}
        return created, states

    def _task_for(
        self, payload: StartPayload, token: str, created: dict[str, int], states: dict[int, TaskState]
    ) -> int:
        if payload.task_id is None:
            return created[token]
        state = states.get(payload.task_id)
        if state is None:
            raise BadInput(f"task {payload.task_id} does not exist")
        if state.spider != self.spider.name:
            raise BadInput(f"task {payload.task_id} belongs to spider {state.spider!r}, not {self.spider.name!r}")
        if state.final:
            raise BadInput(f"task {payload.task_id} is already {state.status}")
        return payload.task_id

    def _push_item(self, entry: Entry, payload: StartPayload, task_id: int) -> PushItem:
        try:
            request = self.spider.start_request(payload.url, **payload.meta)
        except (BadInput, TypeError, ValueError) as exc:
            raise BadInput(f"the spider refused it: {exc}") from None
        request.priority = payload.priority
        request.meta[TASK_ID] = task_id
        request.meta[TASK_ROOT] = True
        try:
            return self.scheduler.push_item(request, handoff=entry)
        except UnserializableRequest as exc:
            raise BadInput(f"its request cannot be queued: {exc}") from None

    def _letter(self, payload: str, reason: str, entry: Entry) -> str:
        logger.warning("Start payload %r goes to %s: %s", payload[:200], self.queue.keys.dead, reason)
        return dead_letter(
            payload, reason, spider=self.spider.name, worker=self.queue.worker, deliveries=entry.deliveries
        )


def payload_text(entry: Entry) -> str:
    return entry.start_payload()[1]
