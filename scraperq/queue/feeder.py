"""A worker's side of ``NAME:start_urls``: payloads become tasks and queued requests.

Payloads are taken in batches into the worker's held hash (so a worker killed
half-way loses none), read by the spider's reader (:mod:`scraperq.queue.startreader`:
scraperq's format, checked by :func:`scraperq.payloads.parse_payload`, or scrapy-redis'
for spiders written for it), given a ``tasks`` row (once, by token:
:mod:`scraperq.queue.taskrows`) unless they name one, made into the spider's start
requests (``spider.start_request(url, **meta)``, with the payload's priority, or the
spider's ``make_request_from_data``) and queued in ``NAME:requests`` in the same step
that settles the payload. Every batch is queued in one step, so priorities
among the payloads taken together are honoured from the first request on.

A payload that cannot be crawled goes to ``NAME:dead`` with the reason, counted
in ``scraperq/queue/dead``; the worker goes on. A payload naming a task that
does not exist, belongs to another spider or is already final is refused too.
Each step of a batch (:func:`check_entries`, :func:`task_rows`, making the
request) deals with payloads one by one where one can fail, so that a payload
nobody foresaw (a bug included) is dead-lettered alone and never holds back the
others taken with it.

Payloads are taken in batches while fewer than ``SCRAPERQ_FEED_BACKLOG`` requests wait
in ``NAME:requests``, and a twentieth of a batch per poll past that, so a flood of URLs
waits in ``start_urls`` while a task submitted during a big crawl still gets its turn.

Settings: ``SCRAPERQ_ALLOW_PRIVATE``, ``SCRAPERQ_MAX_PAYLOAD_BYTES``,
``SCRAPERQ_FEED_BATCH``, ``SCRAPERQ_FEED_BACKLOG``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet import task, threads

from scraperq.errors import BadInput, StorageUnavailable
from scraperq.meta import TASK_ID, TASK_ROOT
from scraperq.payloads import DEFAULT_MAX_PAYLOAD_BYTES, StartPayload, parse_allow_private, parse_payload
from scraperq.queue import defaults
from scraperq.queue.entries import Entry
from scraperq.queue.redisqueue import SEEN_CHECK, SEEN_RECORD, PushItem, dead_letter
from scraperq.queue.serialize import UnserializableRequest
from scraperq.queue.startreader import reader_for
from scraperq.queue.taskrows import TaskState, create_tasks_once, task_states
from scraperq.storage.tasks import NewTask

if TYPE_CHECKING:
    from scraperq.queue.scheduler import RedisScheduler
    from scraperq.storage import Database

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
        self.reader = reader_for(scheduler.spider, allow=allow, max_bytes=max_bytes)
        self.batch = max(1, self.reader.batch or batch)
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
        # Each payload is checked, given its task and made into a request on its own: whatever
        # one payload does (bad input, or an error nobody foresaw) sends that one to NAME:dead
        # and holds back none of the others taken with it.
        parsed, refusals = check_entries(entries, read=self.reader.read)
        letters = [(entry, self._letter(raw, reason, entry)) for entry, raw, reason in refusals]
        created: dict[str, int] = {}
        states: dict[int, TaskState] = {}
        if parsed:
            try:
                created, states, refused = await maybe_deferred_to_future(
                    threads.deferToThread(task_rows, self.store.db, self.spider.name, parsed, self.store.job_id)
                )
            except StorageUnavailable as exc:
                logger.warning(
                    "The database is unavailable, %d start payloads wait %.0fs: %s", len(parsed), DB_RETRY_SECONDS, exc
                )
                await sleep(DB_RETRY_SECONDS)
                self._retry.extend(entry for entry, _, _ in parsed)
                parsed = []
            else:
                for entry, _, _ in parsed:
                    if entry.id in refused:
                        letters.append((entry, self._letter(payload_text(entry), refused[entry.id], entry)))
                parsed = [one for one in parsed if one[0].id not in refused]
        pushes: list[PushItem] = []
        for entry, token, payload in parsed:
            try:
                task_id = self._task_for(payload, token, created, states)
                pushes.extend(self._push_items(entry, payload, task_id))
            except BadInput as exc:
                letters.append((entry, self._letter(payload_text(entry), str(exc), entry)))
            except Exception as exc:
                logger.exception("Making a start request failed; its payload goes to %s", self.queue.keys.dead)
                reason = f"could not be made into a request: {_error(exc)}"
                letters.append((entry, self._letter(payload_text(entry), reason, entry)))
        if letters:
            self.scheduler.dead_letter_entries(letters)
        if pushes:
            done = self.scheduler.guard.call(partial(self.queue.push, pushes))
            if done is None:
                self._retry.extend(item.handoff for item in pushes if item.handoff is not None)
            elif self.stats is not None:
                self.stats.inc_value("scraperq/queue/fed", done.pushed)

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

    def _push_items(self, entry: Entry, payload: StartPayload, task_id: int) -> list[PushItem]:
        items = []
        for n, request in enumerate(self.reader.requests(payload)):
            request.meta[TASK_ID] = task_id
            request.meta[TASK_ROOT] = True
            try:
                # The first settles the payload; the others (a spider may make several from
                # one) are checked against the task's seen-set, so a payload delivered again
                # after a crash does not queue them twice.
                item = self.scheduler.push_item(request, handoff=entry if n == 0 else None)
            except UnserializableRequest as exc:
                raise BadInput(f"its request cannot be queued: {exc}") from None
            items.append(item if n == 0 or item.seen_mode != SEEN_RECORD else replace(item, seen_mode=SEEN_CHECK))
        return items

    def _letter(self, payload: str, reason: str, entry: Entry) -> str:
        logger.warning("Start payload %r goes to %s: %s", payload[:200], self.queue.keys.dead, reason)
        return dead_letter(
            payload, reason, spider=self.spider.name, worker=self.queue.worker, deliveries=entry.deliveries
        )


# -- the steps of a batch, one payload never holding back another ------------------------------


def check_entries(
    entries: Sequence[Entry],
    *,
    allow: Any = False,
    max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    read: Callable[[str], StartPayload] | None = None,
) -> tuple[list[Parsed], list[tuple[Entry, str, str]]]:
    """The start entries whose payloads pass ``read`` (the spider's reader; by default
    :func:`~scraperq.payloads.parse_payload` with ``allow`` and ``max_bytes``), and
    ``(entry, payload, reason)`` for each of the others. Raises nothing for any payload."""
    if read is None:
        read = partial(parse_payload, allow=allow, max_bytes=max_bytes)
    parsed: list[Parsed] = []
    refused: list[tuple[Entry, str, str]] = []
    for entry in entries:
        try:
            token, raw = entry.start_payload()
        except (ValueError, KeyError, TypeError) as exc:
            refused.append((entry, entry.body, f"not a start entry: {_error(exc)}"))
            continue
        try:
            parsed.append((entry, token, read(raw)))
        except BadInput as exc:
            refused.append((entry, raw, str(exc)))
        except Exception as exc:
            logger.exception("Checking a start payload failed; it goes to the dead letters")
            refused.append((entry, raw, f"could not be checked: {_error(exc)}"))
    return parsed, refused


def task_rows(
    db: Database, spider: str, parsed: Sequence[Parsed], job_id: str | None
) -> tuple[dict[str, int], dict[int, TaskState], dict[str, str]]:
    """Check the tasks payloads name and create the others (once per token), for the batch at once.

    Should the database refuse the batch (not: be away, which raises StorageUnavailable),
    payload by payload, so that the one it refuses is dead-lettered and the others go on.
    Returns tokens' new task ids, named tasks' states, and the ids of the entries refused
    with why. In a thread.
    """
    try:
        return (*_task_rows(db, spider, parsed, job_id), {})
    except StorageUnavailable:
        raise
    except Exception as exc:
        logger.warning("The database refused %d start payloads (%r); trying one by one", len(parsed), _error(exc))
    created: dict[str, int] = {}
    states: dict[int, TaskState] = {}
    refused: dict[str, str] = {}
    for one in parsed:
        try:
            one_created, one_states = _task_rows(db, spider, [one], job_id)
        except StorageUnavailable:
            raise
        except Exception as exc:
            refused[one[0].id] = f"the database refused its task: {_error(exc)}"
            continue
        created.update(one_created)
        states.update(one_states)
    return created, states, refused


def _task_rows(
    db: Database, spider: str, parsed: Sequence[Parsed], job_id: str | None
) -> tuple[dict[str, int], dict[int, TaskState]]:
    named = [payload.task_id for _, _, payload in parsed if payload.task_id is not None]
    new = [
        (
            token,
            NewTask(
                spider=spider,
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
    with db.transaction() as cur:
        states = task_states(cur, named) if named else {}
        created = create_tasks_once(cur, new) if new else {}
    return created, states


def payload_text(entry: Entry) -> str:
    return entry.start_payload()[1]


def _error(exc: BaseException) -> str:
    """``TypeName: first line``, bounded: a reason stays one short line whatever the exception says."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if len(text) <= 200 else text[:200] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
