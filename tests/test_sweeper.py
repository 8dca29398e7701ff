"""The sweeper against real PostgreSQL/SQLite and Redis: lost tasks complete, go back to the queue or fail.

The sweeper is driven directly (one ``sweep_once``) with the parts a worker gives it: the
crawl's database and the spider's Redis queue. Times are set on the rows, not waited for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace

import pytest
import redis

from scraperq.queue.keys import QueueKeys
from scraperq.queue.redisqueue import PushItem, RedisQueue
from scraperq.queue.sweeper import Sweeper
from scraperq.storage import open_database
from scraperq.storage.connection import Database, utcnow
from scraperq.storage.tasks import NewTask, create_tasks, get_task

LEASE = 2.0
KEYS = QueueKeys.for_spider("generic")


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def task_row(db: Database, url: str, *, age: float, parsed: bool = False, requeues: int = 0) -> int:
    [task_id] = create_tasks(db, [NewTask(spider="generic", url=url, priority=3)])
    at = utcnow() - timedelta(seconds=age)
    with db.transaction() as cur:
        cur.execute(
            "UPDATE tasks SET status = 'running', updated_at = %s, parsed_at = %s, requeues = %s WHERE id = %s",
            (at, at if parsed else None, requeues, task_id),
        )
    return task_id


def test_lost_tasks_are_settled_and_present_ones_left_alone(db_url: str, client: redis.Redis) -> None:
    db = open_database(db_url)
    queue = RedisQueue(client, KEYS, worker="sweeping-worker", lease_seconds=LEASE)
    drained = task_row(db, "http://example.com/drained", age=10, parsed=True)
    lost = task_row(db, "http://example.com/lost", age=10)
    lost_again = task_row(db, "http://example.com/lost-again", age=10, requeues=2)
    queued = task_row(db, "http://example.com/queued", age=10)
    payload = task_row(db, "http://example.com/payload", age=10)
    fresh = task_row(db, "http://example.com/fresh", age=0)
    queue.push([PushItem(body='{"url": "http://example.com/queued"}', task=queued)])
    client.lpush(KEYS.start_urls, json.dumps({"url": "http://example.com/payload", "task_id": payload}))
    worker = SimpleNamespace(
        queue=queue, store=SimpleNamespace(db=db), spider=SimpleNamespace(name="generic"),
        lease_seconds=LEASE, closing=False, stats=None,
    )  # fmt: skip
    swept = Sweeper(worker).sweep_once()  # type: ignore[arg-type]
    assert (swept.completed, swept.requeued, swept.failed) == (1, 1, 1)
    state = {t: (get_task(db, t)["status"], get_task(db, t)["error"]) for t in (drained, lost, lost_again)}
    assert state == {
        drained: ("completed", None),
        lost: ("pending", None),
        lost_again: ("failed", "lost: no worker held it for 4 s (queued again 2 times)"),
    }
    assert get_task(db, lost)["requeues"] == 1
    payloads = [json.loads(p) for p in client.lrange(KEYS.start_urls, 0, -1)]
    assert {"url": "http://example.com/lost", "task_id": lost, "priority": 3} in payloads
    assert all(get_task(db, t)["status"] == "running" for t in (queued, payload, fresh))
    # A second sweep finds the re-queued task present (its payload waits) and changes nothing.
    again = Sweeper(worker).sweep_once()  # type: ignore[arg-type]
    assert (again.completed, again.requeued, again.failed) == (0, 0, 0)
    db.close()
