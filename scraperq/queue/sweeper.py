"""The sweeper: no task stays ``pending`` or ``running`` with nobody queuing or holding its work.

Every ``SCRAPERQ_LEASE_SECONDS`` each worker looks, off the reactor thread, for
tasks of its spider that are not ended and have not changed for twice the lease.
A task whose work is still in Redis (its entries queued, delayed or held, or its
start payload in ``NAME:start_urls`` or a worker's hold) is left alone. The
others were lost (a worker vanished between two steps, Redis lost data):

* its own page was parsed and nothing of it is left: it has drained, it completes;
* else, while it was put back fewer than ``MAX_REQUEUES`` times, it is queued again
  from its own URL (a start payload naming the task, as ``scraperq enqueue`` queues
  it), and goes back to ``pending``;
* else it fails, saying why: ``lost: no worker held it for 60 s``.

The rule needs nothing but the ledger and the queue's keys, so any number of
workers may sweep: a task changes state only in an update that checks it has not
changed since it was found lost, and only the worker that made that update
queues it again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from twisted.internet import threads

from scraperq.queue.entries import START, Entry
from scraperq.queue.guard import upkeep_loop
from scraperq.storage.connection import utcnow
from scraperq.storage.tasks import mark_drained, mark_failed, mark_requeued, unended_tasks

if TYPE_CHECKING:
    from twisted.internet.task import LoopingCall

    from scraperq.queue.scheduler import RedisScheduler

logger = logging.getLogger(__name__)

MAX_REQUEUES = 2  # times a lost task is queued again before it fails
_SCAN_CHUNK = 1000


@dataclass
class Swept:
    completed: int = 0
    requeued: int = 0
    failed: int = 0


def payload_task(raw: str | bytes) -> int | None:
    """The task a start payload names, if any."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if not text.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    task_id = data.get("task_id") if isinstance(data, dict) else None
    return task_id if isinstance(task_id, int) and not isinstance(task_id, bool) else None


class Sweeper:
    def __init__(self, scheduler: RedisScheduler) -> None:
        self.scheduler = scheduler
        self.queue = scheduler.queue
        self.db = scheduler.store.db
        self.spider = scheduler.spider.name
        self.interval = scheduler.lease_seconds
        self.lost_after = 2 * scheduler.lease_seconds
        self._loop: LoopingCall | None = None
        self._busy = False

    def start(self) -> None:
        self._loop = upkeep_loop(self.sweep, self.interval, now=False)

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def sweep(self) -> None:
        if self._busy or self.scheduler.closing:
            return
        self._busy = True
        d = threads.deferToThread(self.sweep_once)
        d.addCallbacks(self._report, lambda f: logger.warning("Could not sweep for lost tasks: %s", f.value))
        d.addBoth(self._done)

    def _done(self, _: Any) -> None:
        self._busy = False

    def _report(self, swept: Swept) -> None:
        if swept.completed or swept.requeued or swept.failed:
            logger.warning(
                "Tasks nobody queued or held for %.0f s: %d completed (every page settled), %d queued again, %d failed",
                self.lost_after,
                swept.completed,
                swept.requeued,
                swept.failed,
            )
            stats = self.scheduler.stats
            if stats is not None:
                stats.inc_value("scraperq/sweeper/completed", swept.completed)
                stats.inc_value("scraperq/sweeper/requeued", swept.requeued)
                stats.inc_value("scraperq/sweeper/failed", swept.failed)

    def sweep_once(self) -> Swept:
        """One sweep (blocking: the database and Redis are called from this thread)."""
        swept = Swept()
        found_at = utcnow()
        lost_before = found_at - timedelta(seconds=self.lost_after)
        with self.db.transaction() as cur:
            candidates = unended_tasks(cur, self.spider, lost_before)
        if not candidates:
            return swept
        present = self.present_tasks([int(t["id"]) for t in candidates])
        lost = [t for t in candidates if int(t["id"]) not in present]
        payloads: list[str] = []
        reason = f"lost: no worker held it for {self.lost_after:.0f} s"
        with self.db.transaction() as cur:
            for task in lost:
                task_id, now = int(task["id"]), utcnow()
                if task.get("parsed_at") is not None:
                    swept.completed += mark_drained(cur, task_id, now, reason) == "completed"
                elif int(task.get("requeues") or 0) < MAX_REQUEUES and task.get("url"):
                    if mark_requeued(cur, task_id, int(task.get("requeues") or 0), lost_before, now):
                        payloads.append(self._payload(task))
                        swept.requeued += 1
                else:
                    times = int(task.get("requeues") or 0)
                    again = f" (queued again {times} time{'s' if times != 1 else ''})" if times else ""
                    swept.failed += mark_failed(cur, task_id, 0, reason + again, now)
        if payloads:  # after the commit: a task is pending before its payload can be taken
            self.queue.client.lpush(self.queue.keys.start_urls, *payloads)
        return swept

    @staticmethod
    def _payload(task: dict[str, Any]) -> str:
        payload: dict[str, Any] = {"url": task["url"], "task_id": int(task["id"])}
        if task.get("priority"):
            payload["priority"] = int(task["priority"])
        if task.get("meta"):
            payload["meta"] = task["meta"]
        return json.dumps(payload, ensure_ascii=False)

    def present_tasks(self, task_ids: Iterable[int]) -> set[int]:
        """Those of ``task_ids`` with work in Redis: entries queued, delayed or held, or a start payload."""
        wanted = set(task_ids)
        counts = self.queue.outstanding(sorted(wanted))
        present = {t for t, n in counts.items() if n > 0}
        if wanted <= present:
            return present
        client, keys = self.queue.client, self.queue.keys
        for start in range(0, int(client.llen(keys.start_urls)), _SCAN_CHUNK):
            for raw in client.lrange(keys.start_urls, start, start + _SCAN_CHUNK - 1):
                task_id = payload_task(raw)
                if task_id in wanted:
                    present.add(task_id)
        for worker in client.zrange(keys.workers, 0, -1):
            name = worker.decode() if isinstance(worker, bytes) else worker
            for member in client.hvals(keys.held(name)):
                entry = Entry.parse(member)
                if entry.kind == START:
                    task_id = payload_task(entry.start_payload()[1])
                elif entry.task is not None:
                    task_id = entry.task
                else:
                    continue
                if task_id in wanted:
                    present.add(task_id)
        return present
