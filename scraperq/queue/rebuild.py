"""When Redis loses the queue, build it again from the database: the ledger is the truth.

Redis holds a working copy of what the ``tasks`` table says is left to do. A Redis
restarted without persistence, a ``FLUSHDB`` or a failover to an empty replica
loses that copy, and nothing in Redis itself says so: an empty queue looks like
no work. So each copy has a name, ``NAME:epoch``, written once the copy was built
from the database. Every worker reads it with each heartbeat of its lease (one
script call it makes anyway, every ``SCRAPERQ_LEASE_SECONDS / 3``): not per
request, so the hot path pays nothing.

* The epoch is there and the one this worker knows: nothing happened.
* It is gone (or was never set): Redis lost the queue, or this is its first
  worker. One worker, under the lock ``NAME:rebuild`` (a lease it renews at each
  step, so a worker killed half-way leaves it to another), queues again, from its
  own URL, every task of the spider that has not ended (``pending`` or
  ``running``, the latter back to ``pending``), ``SCRAPERQ_REBUILD_BATCH`` at a
  time, then names the new copy. A task's own request is queued only if its
  seen-set does not have it yet, so a rebuild that runs twice, or that meets a
  queue that was not lost after all, queues nothing twice.
* It changed: another worker rebuilt the queue. This worker forgets the links it
  remembered as queued (they were lost with the copy) and goes on.

Pages fetched again after a rebuild store no second result: results are unique
per task and request fingerprint (the ``results_once_idx`` index).
What a rebuild cannot bring back is what the database never knew: payloads pushed
with ``redis-cli LPUSH`` that no worker had taken yet, and dead letters.

Settings: ``SCRAPERQ_LEASE_SECONDS``, ``SCRAPERQ_REBUILD_BATCH``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet import threads

from scraperq.errors import BadInput, StorageUnavailable
from scraperq.meta import TASK_ID, TASK_ROOT
from scraperq.queue import defaults
from scraperq.queue.redisqueue import SEEN_CHECK, PushItem
from scraperq.queue.serialize import UnserializableRequest
from scraperq.queue.taskrows import UnfinishedTask, unfinished_tasks

if TYPE_CHECKING:
    from scraperq.queue.scheduler import RedisScheduler

logger = logging.getLogger(__name__)


def new_epoch() -> str:
    return f"{datetime.now(UTC).isoformat(timespec='seconds')}/{uuid.uuid4().hex[:12]}"


class QueueRebuild:
    def __init__(self, scheduler: RedisScheduler, *, batch: int = defaults.REBUILD_BATCH) -> None:
        self.scheduler = scheduler
        self.queue = scheduler.queue
        self.guard = scheduler.guard
        self.batch = max(1, batch)
        self.epoch: str | None = None  # the copy of the queue this worker works with
        self.rebuilds = 0  # rebuilds this worker made
        self._running: Any = None

    @classmethod
    def from_scheduler(cls, scheduler: RedisScheduler) -> QueueRebuild:
        settings = scheduler.crawler.settings
        return cls(scheduler, batch=settings.getint("SCRAPERQ_REBUILD_BATCH", defaults.REBUILD_BATCH))

    @property
    def lock_seconds(self) -> float:
        return 2 * self.queue.lease_seconds

    def check(self, epoch: str | None) -> None:
        """Called with the epoch each heartbeat read: start a rebuild when Redis has none."""
        if self._running is not None:
            return
        if epoch is not None:
            if self.epoch is not None and epoch != self.epoch:
                logger.warning(
                    "The queue %s was rebuilt from the database by another worker (epoch %s)",
                    self.queue.keys.requests,
                    epoch,
                )
                self.scheduler.forget_seen()
            self.epoch = epoch
            return
        if self.epoch is not None:
            logger.warning(
                "Redis lost the queue %s (its epoch %s is gone: a restart without persistence, a flush or"
                " a failover to an empty replica); queueing the unfinished tasks again from the database",
                self.queue.keys.requests,
                self.queue.keys.epoch,
            )
            self.scheduler.count("scraperq/queue/lost")
            self.scheduler.forget_seen()
            self.epoch = None
        self._running = deferred_from_coro(self._rebuild())

    async def _rebuild(self) -> None:
        try:
            await self.rebuild()
        except Exception:
            logger.exception("Could not rebuild the queue %s; trying again", self.queue.keys.requests)
        finally:
            self._running = None

    async def rebuild(self) -> bool:
        """Queue every unfinished task again, under the lock; True when this worker did it."""
        if not self._lock():
            return False  # another worker rebuilds (its epoch comes with a later heartbeat)
        spider = self.scheduler.spider.name
        after, tasks, queued = 0, 0, 0
        while True:
            try:
                rows = await maybe_deferred_to_future(threads.deferToThread(self._read, spider, after))
            except StorageUnavailable as exc:
                logger.warning("Cannot rebuild the queue while the database is unavailable: %s", exc)
                return False  # the lock runs out; the next heartbeat tries again
            if not rows:
                break
            after = rows[-1].id
            done = self.guard.call(partial(self.queue.push, self._push_items(rows)))
            if done is None or not self._lock():
                return False  # Redis went away, or the lock ran out: the next heartbeat starts again
            tasks += len(rows)
            queued += done.pushed
        epoch = new_epoch()
        if not self.guard.call(partial(self.queue.finish_rebuild, epoch)):
            return False
        self.epoch = epoch
        self.rebuilds += 1
        self.scheduler.count("scraperq/queue/rebuilt_tasks", queued)
        if tasks:
            logger.warning(
                "Rebuilt the queue %s from the database: %d unfinished tasks, %d queued again (epoch %s)",
                self.queue.keys.requests,
                tasks,
                queued,
                epoch,
            )
        else:
            logger.info("No unfinished task of %s in the database (epoch %s)", self.queue.keys.requests, epoch)
        return True

    def _lock(self) -> bool:
        return bool(self.guard.call(partial(self.queue.lock_rebuild, self.lock_seconds)))

    def _read(self, spider: str, after: int) -> list[UnfinishedTask]:
        with self.scheduler.store.db.transaction() as cur:
            return unfinished_tasks(cur, spider, after_id=after, limit=self.batch)

    def _start_request(self, row: UnfinishedTask) -> Request:
        spider = self.scheduler.spider
        if hasattr(spider, "start_request"):  # scraperq's spiders
            return spider.start_request(row.url, **row.meta)
        # A spider written for scrapy-redis makes its start requests as scrapy-redis' own
        # make_request_from_data does for a URL: a plain request to its default callback.
        return Request(row.url, meta=dict(row.meta), dont_filter=True)

    def _push_items(self, rows: list[UnfinishedTask]) -> list[PushItem]:
        items = []
        for row in rows:
            try:
                request = self._start_request(row)
                request.priority = row.priority
                request.meta[TASK_ID] = row.id
                request.meta[TASK_ROOT] = True
                items.append(self.scheduler.push_item(request, seen_mode=SEEN_CHECK))
            except (BadInput, TypeError, ValueError, UnserializableRequest) as exc:
                reason = f"cannot be queued again after Redis lost the queue: {exc}"
                self.scheduler.store.task_event(row.id, "failed", max(1, row.attempts), reason)
        return items
