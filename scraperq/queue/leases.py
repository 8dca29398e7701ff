"""A worker's lease: renewed while it lives; what gone workers held, back to work.

Every ``SCRAPERQ_LEASE_SECONDS / 3`` seconds a worker

* renews its lease in ``NAME:workers`` and reads the queue's epoch, which tells
  it whether Redis lost the queue (:mod:`~scraperq.queue.rebuild`);
* gives back entries held under its name that it never received (Redis ran a
  take whose reply was lost), so they do not wait for the worker to stop;
* re-queues what workers whose lease ran out were holding (any live worker does
  it, and the script makes each entry move once), counting a delivery;
* dead-letters entries every taker of which stopped before finishing them
  (``SCRAPERQ_MAX_DELIVERIES``: a page that kills workers), failing their task.

Settings: ``SCRAPERQ_LEASE_SECONDS``, ``SCRAPERQ_MAX_DELIVERIES``.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from scraperq.meta import TASK_ID, TASK_ROOT
from scraperq.queue.entries import REQUEST, START, Entry
from scraperq.queue.guard import upkeep_loop
from scraperq.queue.redisqueue import dead_letter

if TYPE_CHECKING:
    from twisted.internet.task import LoopingCall

    from scraperq.queue.scheduler import RedisScheduler

logger = logging.getLogger(__name__)


class LeaseKeeper:
    def __init__(self, scheduler: RedisScheduler) -> None:
        self.scheduler = scheduler
        self.queue = scheduler.queue
        self.guard = scheduler.guard
        self._loop: LoopingCall | None = None

    def start(self) -> None:
        self._loop = upkeep_loop(self.beat, self.queue.lease_seconds / 3, now=True)

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def beat(self) -> None:
        beat = self.guard.call(self.queue.beat)
        if beat is not None and not beat.alive:
            logger.warning(
                "Worker %s was taken for gone (its lease of %.0fs ran out): what it held was re-delivered",
                self.queue.worker,
                self.queue.lease_seconds,
            )
        if self.scheduler.closing:
            return  # only the lease matters until the last results are written
        if beat is not None:
            self.scheduler.rebuild.check(beat.epoch)
        self.give_back_unknown()
        reclaimed = self.guard.call(self.queue.reclaim)
        if reclaimed is None:
            return
        if reclaimed.workers:
            logger.info(
                "Re-queued %d entries held by %d worker(s) whose lease ran out",
                reclaimed.requeued + len(reclaimed.exhausted),
                reclaimed.workers,
            )
            self.scheduler.count("scraperq/queue/redelivered", reclaimed.requeued)
        if reclaimed.exhausted:
            self.give_up(reclaimed.exhausted)

    def give_back_unknown(self) -> None:
        if self.scheduler.round_trip_in_flight():
            return  # entries a take on its way holds would look unknown: next beat
        held = self.guard.call(self.queue.held_ids)
        if not held:
            return
        known = self.scheduler.known_entry_ids()
        unknown = [entry_id for entry_id in held if entry_id not in known]
        if unknown:
            logger.warning("Giving back %d entries held under this worker's name that it never received", len(unknown))
            self.scheduler.release_later(unknown)

    def give_up(self, entries: list[Entry]) -> None:
        reason = (
            f"delivered {self.queue.max_deliveries} times; each worker that took it stopped before finishing it"
            " (SCRAPERQ_MAX_DELIVERIES)"
        )
        spider, store = self.scheduler.spider.name, self.scheduler.store
        letters = []
        for entry in entries:
            payload = entry.body
            if entry.kind == REQUEST:
                try:
                    data = json.loads(entry.body)
                except ValueError:
                    data = {}
                meta = data.get("meta") or {}
                payload = data.get("url", entry.body)
                if meta.get(TASK_ROOT) and meta.get(TASK_ID) is not None:
                    store.task_event(int(meta[TASK_ID]), "failed", entry.deliveries, f"gave up: {reason}")
            elif entry.kind == START:
                payload = entry.start_payload()[1]
            letter = dead_letter(payload, reason, spider=spider, worker=self.queue.worker, deliveries=entry.deliveries)
            letters.append((entry, letter))
        logger.error("Dead-lettered %d entries: %s", len(entries), reason)
        self.scheduler.dead_letter_entries(letters)
