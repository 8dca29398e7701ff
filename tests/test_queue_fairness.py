"""Fair share within a priority: a small task is served while a big one runs; priorities still win.

The queue's steps against a real Redis first (as workers take entries), then a real worker
crawling a wide site (each page links to many) for one big task, so hundreds of its requests
wait in Redis when two one-page tasks come in: the mock server's request log shows where
they were served.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scraperq.storage.results import count_results
from tests import test_queue_redis as queue_redis
from tests import test_queue_workers as queue_workers
from tests.helpers import wait_for

workers, db = queue_workers.workers, queue_workers.db
enqueue = queue_workers.enqueue
item, urls, worker = queue_redis.item, queue_redis.urls, queue_redis.worker


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def test_a_task_that_comes_in_is_served_next_to_one_that_queued_many(client: redis.Redis) -> None:
    q = worker(client, "a")
    q.push([item(f"/big/{n}", task=1) for n in range(500)])
    assert urls(q.exchange(take=3).taken) == ["/big/0", "/big/1", "/big/2"]
    q.push([item("/small/0", task=2), item("/small/1", task=2)])
    assert urls(q.exchange(take=4).taken) == ["/big/3", "/small/0", "/big/4", "/small/1"]


def test_tasks_queued_together_take_turns(client: redis.Redis) -> None:
    q = worker(client, "a")
    q.push([item(f"/a/{n}", task=1) for n in range(3)] + [item(f"/b/{n}", task=2) for n in range(3)])
    assert urls(q.exchange(take=6).taken) == ["/a/0", "/b/0", "/a/1", "/b/1", "/a/2", "/b/2"]


def test_entries_given_back_go_first_in_their_priority_and_a_drained_queue_starts_over(client: redis.Redis) -> None:
    q = worker(client, "a")
    q.push([item(f"/a/{n}", task=1) for n in range(4)])
    taken = q.exchange(take=2).taken
    q.push([item("/high", task=3, priority=1)])
    q.exchange(release=[e.id for e in taken[1:]])
    assert urls(q.exchange(take=10).taken) == ["/high", "/a/1", "/a/2", "/a/3"]
    assert client.get(f"{queue_redis.KEYS.requests}:clock") is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(-3, 3)), min_size=1, max_size=40))
def test_priorities_always_beat_fairness_and_each_task_keeps_its_order(
    client: redis.Redis, pushes: list[tuple[int, int]]
) -> None:
    client.flushdb()
    q = worker(client, "a")
    q.push([item(f"/{n}", task=task, priority=prio) for n, (task, prio) in enumerate(pushes)])
    taken = q.exchange(take=len(pushes)).taken
    priorities = [e.priority for e in taken]
    assert priorities == sorted(priorities, reverse=True)
    for task in {t for t, _ in pushes}:
        for prio in {p for t, p in pushes if t == task}:
            mine = [int(u[1:]) for u, e in zip(urls(taken), taken, strict=True) if (e.task, e.priority) == (task, prio)]
            assert mine == sorted(mine)  # first in, first out within a task and priority


def test_a_one_page_task_is_served_while_a_big_task_runs_but_not_before_higher_priorities(
    workers: Any, db: Any, pg_url: str, redis_url: str, mockserver: Any
) -> None:
    worker = workers("follow=same-host", "depth=5", CONCURRENT_REQUESTS="2", SCRAPERQ_LEASE_SECONDS="30")
    worker.wait_ready()
    pages = 150
    enqueue(pg_url, redis_url, mockserver(f"/site/0.html?pages={pages}&fan=50"))

    def big_fetched() -> int:
        return sum(1 for path, _ in mockserver.log() if path.startswith("/site/"))

    wait_for(lambda: big_fetched() >= 5, timeout=60, message="the big task under way")
    # Same priority: takes its turn. Lower priority: waits for the whole big task.
    enqueue(pg_url, redis_url, mockserver("/slow?delay=0&id=small"))
    enqueue(pg_url, redis_url, mockserver("/slow?delay=0&id=low"), priority=-1)
    submitted = big_fetched()
    wait_for(lambda: count_results(db) == pages + 2, timeout=120, message="every page stored")
    assert worker.stop() == 0
    order = [path for path, _ in mockserver.log() if path.startswith(("/site/", "/slow"))]
    small, low = order.index("/slow?delay=0&id=small"), order.index("/slow?delay=0&id=low")
    assert submitted < pages / 3  # the big task still had most of its pages queued
    # Served next to the big task's next pages (those already taken or in flight), not after
    # the hundreds it has queued.
    assert small - submitted <= 10, (submitted, small)
    assert low == len(order) - 1, (submitted, low)
