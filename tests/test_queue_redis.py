"""The Redis queue's steps against a real Redis: order, leases, re-delivery, seen-set, retries.

These drive :class:`scraperq.queue.redisqueue.RedisQueue` directly, as two or more
workers would, with leases of a second so that expiry is quick.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator

import pytest
import redis

from scraperq.queue.entries import START, Entry
from scraperq.queue.keys import QueueKeys
from scraperq.queue.redisqueue import SEEN_CHECK, SEEN_RECORD, PushItem, RedisQueue
from tests.helpers import wait_for

KEYS = QueueKeys.for_spider("spider")


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def worker(client: redis.Redis, name: str, lease: float = 1.0, **kwargs: int) -> RedisQueue:
    return RedisQueue(client, KEYS, worker=name, lease_seconds=lease, **kwargs)


def item(url: str, *, task: int | None = 1, priority: int = 0, delay: float = 0.0, mode: str = SEEN_CHECK) -> PushItem:
    digest = hashlib.sha1(url.encode()).digest()
    return PushItem(
        body=json.dumps({"url": url}),
        task=task,
        priority=priority,
        seen_mode=mode,
        fingerprint=int.from_bytes(digest[:8], "big", signed=True),
        bucket=int.from_bytes(digest[8:12], "big"),
        delay=delay,
    )


def urls(entries: list[Entry]) -> list[str]:
    return [json.loads(e.body)["url"] for e in entries]


def test_higher_priority_first_and_first_in_first_out_within_a_priority(client: redis.Redis) -> None:
    q = worker(client, "a")
    q.push([item("/low", priority=-1), item("/a"), item("/high", priority=10), item("/b"), item("/c")])
    assert urls(q.exchange(take=10).taken) == ["/high", "/a", "/b", "/c", "/low"]


def test_a_url_is_queued_once_per_task_and_again_for_another_task(client: redis.Redis) -> None:
    q = worker(client, "a")
    first = q.push([item("/page", task=1), item("/page", task=1)])
    assert (first.pushed, first.filtered) == (1, 1)
    again = q.push([item("/page", task=1), item("/page", task=2)])
    assert (again.pushed, again.filtered) == (1, 1)  # task 2 is another run: fetched again


def test_a_task_that_drained_leaves_no_seen_set_behind(client: redis.Redis) -> None:
    q = worker(client, "a")
    q.push([item(f"/p{i}", task=7) for i in range(600)])  # more than one level of shards
    assert client.keys(f"{KEYS.dupefilter}:7:*")
    taken = q.exchange(take=1000).taken
    assert q.outstanding([7]) == {7: 600}
    q.ack(taken)
    assert q.outstanding([7]) == {7: 0}
    assert client.keys(f"{KEYS.dupefilter}*") == []
    assert client.hlen(KEYS.outstanding) == 0


def test_dont_filter_requests_are_queued_but_recorded_as_seen(client: redis.Redis) -> None:
    q = worker(client, "a")
    assert q.push([item("/root", mode=SEEN_RECORD), item("/root", mode=SEEN_RECORD)]).pushed == 2
    assert q.push([item("/root")]).filtered == 1  # a link back to the start page is not fetched again


def test_what_a_dead_worker_held_is_delivered_to_a_live_one_after_its_lease(client: redis.Redis) -> None:
    dead, live = worker(client, "dead"), worker(client, "live")
    dead.push([item("/1"), item("/2")])
    held = dead.exchange(take=2).taken
    assert live.exchange(take=5).taken == []  # held, not lost, not shared
    assert live.reclaim().workers == 0  # the lease has not run out yet
    time.sleep(1.2)
    live.heartbeat()
    reclaimed = live.reclaim()
    assert (reclaimed.workers, reclaimed.requeued) == (1, 2)
    again = live.exchange(take=5).taken
    assert sorted(urls(again)) == sorted(urls(held))
    assert {e.deliveries for e in again} == {1}
    assert not client.exists(KEYS.held("dead"))


def test_a_live_worker_keeps_its_entries_by_renewing_its_lease(client: redis.Redis) -> None:
    busy, other = worker(client, "busy"), worker(client, "other")
    busy.push([item("/slow")])
    busy.exchange(take=1)
    for _ in range(3):
        time.sleep(0.5)
        assert busy.heartbeat() is True
        other.heartbeat()
        assert other.reclaim().workers == 0
    assert other.exchange(take=1).taken == []


def test_an_entry_that_outlives_every_worker_is_returned_for_the_dead_letters(client: redis.Redis) -> None:
    reaper = worker(client, "reaper", max_deliveries=2)
    worker(client, "w1").push([item("/poison")])
    for name in ("w1", "w2"):
        taken = worker(client, name).exchange(take=1).taken
        assert urls(taken) == ["/poison"]
        time.sleep(1.2)
        reaper.heartbeat()
        reclaimed = reaper.reclaim()
    assert urls(reclaimed.exhausted) == ["/poison"]
    assert reclaimed.exhausted[0].deliveries == 2
    assert reaper.dead_letter([(reclaimed.exhausted[0], json.dumps({"reason": "too many"}))]) == 1
    assert client.llen(KEYS.dead) == 1
    assert client.zcard(KEYS.requests) == 0


def test_a_retry_replaces_its_attempt_in_one_step_and_only_once(client: redis.Redis) -> None:
    q = worker(client, "a")
    q.push([item("/flaky", task=3)])
    [attempt] = q.exchange(take=1).taken
    retry = item("/flaky", task=3, mode=SEEN_RECORD)
    retry = PushItem(**{**retry.__dict__, "handoff": attempt})
    assert q.exchange(push=[retry]).pushed == 1
    assert q.exchange(push=[retry]).stale == 1  # sent twice (a retried call): queued once
    assert q.outstanding([3]) == {3: 1}
    assert not client.hexists(q.held_key, attempt.id)


def test_a_delayed_retry_waits_in_redis_without_blocking_others(client: redis.Redis) -> None:
    q = worker(client, "a")
    q.push([item("/later", delay=1.0), item("/now")])
    assert urls(q.exchange(take=5).taken) == ["/now"]
    assert client.zcard(KEYS.delayed) == 1
    later = wait_for(lambda: q.exchange(take=5).taken, timeout=5, message="the delayed retry")
    assert urls(later) == ["/later"]


def test_start_payloads_taken_by_a_worker_that_dies_come_back_with_their_token(client: redis.Redis) -> None:
    client.lpush(KEYS.start_urls, "http://example.com/1", '{"url": "http://example.com/2"}')
    taken = worker(client, "dies").feed(10)
    assert [e.start_payload()[1] for e in taken] == ["http://example.com/1", '{"url": "http://example.com/2"}']
    assert client.llen(KEYS.start_urls) == 0
    time.sleep(1.2)
    live = worker(client, "live")
    live.heartbeat()
    live.reclaim()
    again = live.exchange(take=5).taken
    assert [e.kind for e in again] == [START, START]
    assert [e.start_payload() for e in again] == [e.start_payload() for e in taken]


def test_a_worker_leaving_gives_back_what_it_holds_and_deletes_nothing_shared(client: redis.Redis) -> None:
    leaving, staying = worker(client, "leaving"), worker(client, "staying")
    leaving.push([item(f"/{i}") for i in range(4)])
    staying.exchange(take=1)
    leaving.exchange(take=2)
    assert leaving.retire() == 2
    assert client.zrange(KEYS.workers, 0, -1) == [b"staying"]
    assert client.zcard(KEYS.requests) == 3
    assert client.hlen(KEYS.held("staying")) == 1
    assert client.hlen(KEYS.dupefilter) == 1  # task 1's seen-set is still there for the others


def test_the_seen_set_takes_about_ten_bytes_per_url(client: redis.Redis) -> None:
    q = worker(client, "a")
    count = 20_000
    for start in range(0, count, 1000):
        q.push([item(f"https://example.com/page/{i}") for i in range(start, start + 1000)])
    keys = [KEYS.dupefilter, *client.scan_iter(f"{KEYS.dupefilter}:*", count=1000)]
    used = sum(client.memory_usage(key, samples=0) for key in keys)
    assert used / count < 16  # scrapy-redis' hex SHA1 set takes about 90


def test_a_redis_that_forgot_the_scripts_is_served_again(client: redis.Redis) -> None:
    q = worker(client, "a")
    q.push([item("/1"), item("/2")])
    client.script_flush()  # what a restart does to the script cache
    done = q.exchange(push=[item("/3")], take=5)
    assert (done.pushed, urls(done.taken)) == (1, ["/1", "/2", "/3"])


def test_a_take_is_sent_once_when_redis_knows_only_some_of_the_scripts(client: redis.Redis) -> None:
    from scraperq.queue import scripts

    q = worker(client, "a")
    q.push([item(f"/{i}") for i in range(6)])
    q.exchange()
    client.script_flush()
    client.script_load(scripts.POP)  # say, another release loaded an identical take script
    done = q.exchange(push=[item("/new")], take=2)
    assert (done.pushed, len(done.taken)) == (1, 2)
    assert client.hlen(q.held_key) == 2  # nothing taken behind the worker's back


def test_a_worker_remembers_a_bounded_number_of_queued_links() -> None:
    from scrapy.utils.request import RequestFingerprinter

    from scraperq.queue.dupefilter import REMEMBERED, SeenKey, TaskDupeFilter

    df = TaskDupeFilter(RequestFingerprinter())
    for n in range(3 * REMEMBERED):
        df.remember(SeenKey(1, n, n))
    assert REMEMBERED // 2 <= len(df._remembered) <= REMEMBERED
    assert df.remembered(SeenKey(1, 3 * REMEMBERED - 1, 3 * REMEMBERED - 1))  # the newest stay
    df.forget()  # Redis lost the seen-set: nothing is known to be queued any more
    assert not df.remembered(SeenKey(1, 3 * REMEMBERED - 1, 3 * REMEMBERED - 1))
