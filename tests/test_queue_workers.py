"""Real ``scrapy crawl`` workers sharing one Redis queue, PostgreSQL and the mock server.

Workers run with leases of a few seconds (``SCRAPERQ_LEASE_SECONDS``) so that the
re-delivery after ``kill -9`` happens within the test.
"""

from __future__ import annotations

import base64
import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from scraperq.queue.entries import START, Entry
from scraperq.redisclient import sync_client
from scraperq.storage import open_database
from scraperq.storage.results import count_results, iter_results
from scraperq.storage.tasks import list_tasks
from tests.helpers import BIN, crawl, crawl_env, scraperq, spawn, wait_for

SPIDER = "generic"
FAST = {
    "SCRAPERQ_LEASE_SECONDS": "3",
    "SCRAPERQ_QUEUE_POLL_SECONDS": "0.1",
    "SCRAPERQ_QUEUE_PREFETCH": "1",
    "LOGSTATS_INTERVAL": "3600",
}


class Worker:
    """``scrapy crawl generic`` in worker mode, its output in a file."""

    def __init__(self, log: Path, db_url: str, redis_url: str, *spider_args: str, **settings: str) -> None:
        args = [str(BIN / "scrapy"), "crawl", SPIDER]
        for arg in spider_args:
            args += ["-a", arg]
        for name, value in {**FAST, **settings}.items():
            args += ["-s", f"{name}={value}"]
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - open for the process's lifetime
        self.proc = spawn(args, crawl_env(db_url, REDIS_URL=redis_url), stdout=self._log, stderr=subprocess.STDOUT)
        self.redis = sync_client(redis_url)  # a server or a Sentinel set

    @property
    def id(self) -> str | None:
        for member in self.redis.zrange(f"{SPIDER}:workers", 0, -1):
            if f":{self.proc.pid}:" in member.decode():
                return member.decode()
        return None

    def wait_ready(self) -> str:
        """Registered, and the queue checked against the database (it has an epoch: see rebuild.py)."""

        def ready() -> str | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.output()}")
            return self.id if self.redis.exists(f"{SPIDER}:epoch") else None

        return wait_for(ready, timeout=60, message="the worker to register")

    def held(self) -> dict[bytes, bytes]:
        worker = self.id
        return self.redis.hgetall(f"{SPIDER}:held:{worker}") if worker else {}

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self._log.close()
        self.redis.close()
        return code

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stat(self, name: str) -> int:
        match = re.search(rf"'{re.escape(name)}': (\d+)", self.output())
        return int(match.group(1)) if match else 0


@pytest.fixture
def workers(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[Any]:
    started: list[Worker] = []

    def start(*spider_args: str, **settings: str) -> Worker:
        worker = Worker(tmp_path / f"worker{len(started)}.log", pg_url, redis_url, *spider_args, **settings)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.stop(signal.SIGKILL)


@pytest.fixture
def db(pg_url: str) -> Iterator[Any]:
    database = open_database(pg_url)
    yield database
    database.close()


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def enqueue(pg_url: str, redis_url: str, *urls: str, priority: int = 0) -> list[int]:
    done = scraperq(pg_url, "enqueue", *urls, "--priority", str(priority), REDIS_URL=redis_url)
    assert done.returncode == 0, done.stderr
    return [int(line) for line in done.stdout.split()]


def tasks_by_status(db: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for task in list_tasks(db, limit=10_000):
        counts[task["status"]] = counts.get(task["status"], 0) + 1
    return counts


def all_final(db: Any, count: int) -> bool:
    statuses = tasks_by_status(db)
    return statuses.get("completed", 0) + statuses.get("failed", 0) == count


def held_url(entry: Entry) -> str:
    """The URL a held entry stands for: a request's, or a start payload's (taken, not yet a request)."""
    if entry.kind == START:
        payload = entry.start_payload()[1]
        return json.loads(payload)["url"] if payload.startswith("{") else payload
    return json.loads(entry.body)["url"]


def hits(mockserver: Any, prefix: str) -> dict[str, int]:
    return {path: n for path, n in mockserver.hits().items() if path.startswith(prefix)}


def test_two_workers_share_the_queue_and_fetch_no_url_twice(
    workers: Any, db: Any, pg_url: str, redis_url: str, mockserver: Any
) -> None:
    # Nobody dies here, so leases long enough that a worker starved of CPU on a loaded machine still
    # renews in time: a lapsed lease would re-deliver (at-least-once) and fetch a page twice.
    site = [
        workers("follow=same-host", "depth=20", CONCURRENT_REQUESTS="4", SCRAPERQ_LEASE_SECONDS="30") for _ in range(2)
    ]
    for worker in site:
        worker.wait_ready()
    pages = 120
    [task_id] = enqueue(pg_url, redis_url, mockserver(f"/site/0.html?pages={pages}"))
    wait_for(lambda: count_results(db, task_id=task_id) == pages, timeout=60, message="every page stored")
    for worker in site:
        assert worker.stop() == 0
    fetched = hits(mockserver, "/site/")
    assert len(fetched) == pages
    assert set(fetched.values()) == {1}
    taken = [worker.stat("scheduler/dequeued/redis") for worker in site]
    assert all(n > 0 for n in taken), taken  # both did part of the work
    assert sum(taken) == pages
    assert tasks_by_status(db) == {"completed": 1}


def test_a_worker_killed_mid_crawl_loses_nothing(
    workers: Any, db: Any, pg_url: str, redis_url: str, mockserver: Any, r: redis.Redis
) -> None:
    victim, survivor = (workers(CONCURRENT_REQUESTS="2") for _ in range(2))
    victim_id = victim.wait_ready()
    survivor.wait_ready()
    urls = [mockserver(f"/slow?delay=2&id={i}") for i in range(8)]
    ids = enqueue(pg_url, redis_url, *urls)
    # Two requests in flight, and whatever it took ahead of them.
    held = wait_for(lambda: victim.held() if len(victim.held()) >= 2 else None, timeout=30, message="work in flight")
    time.sleep(0.5)  # its responses are on their way
    victim.stop(signal.SIGKILL)
    held_urls = {held_url(Entry.parse(member)) for member in held.values()}

    wait_for(lambda: all_final(db, len(ids)), timeout=60, message="every task final")
    assert tasks_by_status(db) == {"completed": len(ids)}
    for task_id in ids:
        assert count_results(db, task_id=task_id) == 1  # re-delivered, yet stored once
    fetched = hits(mockserver, "/slow")
    assert all(fetched[url.split(mockserver.url, 1)[1]] >= 1 for url in held_urls)
    assert not r.exists(f"{SPIDER}:held:{victim_id}")
    assert "Re-queued" in survivor.output()
    assert survivor.stop() == 0


def test_stopping_one_worker_gracefully_leaves_the_other_working(
    workers: Any, db: Any, pg_url: str, redis_url: str, mockserver: Any, r: redis.Redis
) -> None:
    leaving, staying = (workers(CONCURRENT_REQUESTS="2", SCRAPERQ_QUEUE_PREFETCH="2") for _ in range(2))
    leaving_id = leaving.wait_ready()
    staying.wait_ready()
    ids = enqueue(pg_url, redis_url, *(mockserver(f"/slow?delay=1.5&id={i}") for i in range(12)))
    wait_for(lambda: len(leaving.held()) >= 2, timeout=30, message="the leaving worker to hold work")

    assert leaving.stop(signal.SIGTERM) == 0
    assert staying.proc.poll() is None
    # Nothing shared was flushed: the unfinished tasks are still queued and still have their seen-sets.
    unfinished = [t for t in ids if r.hget(f"{SPIDER}:outstanding", t)]
    assert unfinished
    assert r.hlen(f"{SPIDER}:dupefilter") >= len(unfinished)
    assert r.zrange(f"{SPIDER}:workers", 0, -1) == [staying.id.encode()]
    assert not r.exists(f"{SPIDER}:held:{leaving_id}")

    wait_for(lambda: all_final(db, len(ids)), timeout=60, message="every task final")
    assert tasks_by_status(db) == {"completed": len(ids)}
    assert set(hits(mockserver, "/slow").values()) == {1}  # what it had started it finished; the rest it gave back
    assert staying.stop() == 0


def test_bad_payloads_go_to_the_dead_letters_and_the_worker_goes_on(
    workers: Any, db: Any, redis_url: str, mockserver: Any, r: redis.Redis
) -> None:
    article = mockserver("/article")
    bad: list[tuple[str | bytes, str]] = [
        ("not a url", "neither JSON nor a URL"),
        ('{"priority": 1}', "payload has no url"),
        ('{"url": "ftp://example.org/file"}', "only http and https are allowed"),
        ('{"url": "http://10.0.0.5/"}', "blocked: 10.0.0.5 is a private address"),
        (json.dumps({"url": article, "meta": {"render_wait_for": "x" * 70_000}}), "larger than the limit"),
        (json.dumps({"url": article, "task_id": 999999}), "task 999999 does not exist"),
        # Hostile ones: each used to stall a worker, hold back its batch or step around a limit.
        ("[" * 60_000, "nested deeper than 8 levels"),
        (article.encode() + b"?q=\xff\xfe", "payload is not UTF-8 text (byte 0xff"),
        (json.dumps({"url": article, "meta": {"depth": -5}}), "'depth' must be a whole number from 0 to 100"),
        (json.dumps({"url": article, "meta": {"download_timeout": 1e9}}), "'download_timeout' must be a number"),
        (json.dumps({"url": article, "meta": {"download_slot": "x"}}), "key 'download_slot' is not allowed"),
        (json.dumps({"url": article + "\udc00"}), "lone surrogate"),
    ]
    good = [mockserver(f"/article?n={i}") for i in range(len(bad))]
    # Good and bad alternate, all within one feed batch.
    mixed = [payload for pair in zip(good, (p for p, _ in bad), strict=True) for payload in pair]
    r.lpush(f"{SPIDER}:start_urls", *mixed)
    worker = workers()
    worker.wait_ready()
    wait_for(lambda: tasks_by_status(db) == {"completed": len(good)}, timeout=60, message="every good payload crawled")
    assert sorted(row["url"] for row in list_tasks(db, limit=100)) == sorted(good)
    letters = [json.loads(raw) for raw in r.lrange(f"{SPIDER}:dead", 0, -1)]
    assert len(letters) == len(bad)
    for payload, reason in bad:
        shown = payload.decode("utf-8", "backslashreplace") if isinstance(payload, bytes) else payload
        [letter] = [x for x in letters if shown.startswith(x["payload"])]
        assert reason in letter["reason"]
        if isinstance(payload, bytes):  # the exact bytes are kept, to be requeued as they came
            assert base64.b64decode(letter["payload_base64"]) == payload
    assert worker.proc.poll() is None
    assert worker.stop() == 0
    assert worker.stat("scraperq/queue/dead") == len(bad)


def test_higher_priority_payloads_are_fetched_first(
    workers: Any, db: Any, redis_url: str, mockserver: Any, r: redis.Redis
) -> None:
    priorities = [0, 5, -3, 10, 5, 0]
    payloads = [
        json.dumps({"url": mockserver(f"/slow?delay=0&id={i}"), "priority": p}) for i, p in enumerate(priorities)
    ]
    r.lpush(f"{SPIDER}:start_urls", *payloads)  # the worker takes them in this order
    worker = workers(CONCURRENT_REQUESTS="1")
    worker.wait_ready()
    wait_for(lambda: all_final(db, len(priorities)), timeout=60, message="every task final")
    order = [path for path, _ in mockserver.log() if path.startswith("/slow")]
    expected = sorted(range(len(priorities)), key=lambda i: (-priorities[i], i))
    assert order == [f"/slow?delay=0&id={i}" for i in expected]
    assert worker.stop() == 0


def test_a_new_task_for_a_url_crawled_before_fetches_it_again(
    workers: Any, db: Any, pg_url: str, redis_url: str, mockserver: Any
) -> None:
    worker = workers()
    worker.wait_ready()
    url = mockserver("/article")
    [yesterday] = enqueue(pg_url, redis_url, url)
    wait_for(lambda: all_final(db, 1), timeout=60, message="the first run")
    [today] = enqueue(pg_url, redis_url, url)
    wait_for(lambda: all_final(db, 2), timeout=60, message="the second run")
    assert tasks_by_status(db) == {"completed": 2}
    assert mockserver.hits()["/article"] == 2
    assert count_results(db, task_id=yesterday) == count_results(db, task_id=today) == 1
    assert worker.stop() == 0


def test_a_crawl_given_urls_uses_the_shared_queue_and_finishes(
    pg_url: str, redis_url: str, db: Any, mockserver: Any, r: redis.Redis
) -> None:
    done = crawl(
        pg_url,
        SPIDER,
        "url=" + mockserver("/site/0.html?pages=15"),
        "follow=same-host",
        "depth=5",
        REDIS_URL=redis_url,
        SCRAPERQ_QUEUE_POLL_SECONDS="0.1",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "scheduler/enqueued/redis" in done.stderr
    assert tasks_by_status(db) == {"completed": 1}
    assert count_results(db) == 15
    assert r.zcard(f"{SPIDER}:workers") == 0
    assert r.keys(f"{SPIDER}:held:*") == []


def test_a_worker_waits_out_a_redis_restart(tmp_path: Path, db: Any, pg_url: str, mockserver: Any) -> None:
    port = free_port()
    server = [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
        "--save", "", "--appendonly", "yes", "--appendfsync", "always",
    ]  # fmt: skip
    with open(tmp_path / "redis.log", "wb") as redis_log:
        own = subprocess.Popen(server, stdout=redis_log, stderr=subprocess.STDOUT)
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        try:
            wait_for(lambda: _pings(client), timeout=10, message="the private Redis")
            worker = Worker(tmp_path / "worker.log", pg_url, url)
            worker.wait_ready()
            client.lpush(f"{SPIDER}:start_urls", mockserver("/slow?delay=0&id=before"))
            wait_for(lambda: all_final(db, 1), timeout=60, message="the task before the restart")

            own.terminate()
            own.wait(timeout=10)
            wait_for(lambda: "is unreachable" in worker.output(), timeout=30, message="the worker to notice")
            own = subprocess.Popen(server, stdout=redis_log, stderr=subprocess.STDOUT)
            wait_for(lambda: _pings(client), timeout=10, message="Redis back")
            client.lpush(f"{SPIDER}:start_urls", mockserver("/slow?delay=0&id=after"))
            wait_for(lambda: all_final(db, 2), timeout=60, message="the task after the restart")
            assert tasks_by_status(db) == {"completed": 2}
            assert "is back" in worker.output()
            assert worker.stop() == 0
        finally:
            client.close()
            own.kill()
            own.wait()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_no_redis_needed_without_redis_url(pg_url: str, mockserver: Any) -> None:
    done = crawl(pg_url, SPIDER, "url=" + mockserver("/article"))  # crawl_env leaves REDIS_URL out
    assert done.returncode == 0, done.stderr[-2000:]
    assert "scheduler/enqueued/memory" in done.stderr


def test_entries_held_in_a_workers_name_that_it_never_received_are_crawled(
    workers: Any, db: Any, mockserver: Any, r: redis.Redis
) -> None:
    from scraperq.storage.tasks import NewTask, create_tasks

    worker = workers()
    worker_id = worker.wait_ready()
    [task_id] = create_tasks(db, [NewTask(spider=SPIDER, url=mockserver("/article"))])
    body = json.dumps({"url": mockserver("/article"), "meta": {"task_id": task_id, "task_root": True}})
    # What Redis holds when it ran a take whose reply never reached the worker (a timeout).
    r.hset(f"{SPIDER}:held:{worker_id}", "00000000ffff", f"00000000ffff|0|0|{task_id}|r|{body}")
    r.hincrby(f"{SPIDER}:outstanding", str(task_id), 1)
    wait_for(lambda: tasks_by_status(db) == {"completed": 1}, timeout=60, message="the forgotten entry crawled")
    assert "Giving back 1 entries" in worker.output()
    assert worker.stop() == 0


def test_payload_meta_reaches_the_request(workers: Any, db: Any, mockserver: Any, r: redis.Redis) -> None:
    target = mockserver("/redirect?to=/article")
    payloads = [
        json.dumps({"url": target, "meta": {"dont_redirect": True, "handle_httpstatus_list": [302]}}),
        target,
    ]
    r.lpush(f"{SPIDER}:start_urls", *payloads)
    worker = workers()
    worker.wait_ready()
    wait_for(lambda: all_final(db, 2), timeout=60, message="both tasks final")
    with_meta, plain = sorted(list_tasks(db), key=lambda t: t["id"])
    assert with_meta["meta"] == {"dont_redirect": True, "handle_httpstatus_list": [302]}
    statuses = {row["task_id"]: row["data"]["status"] for row in iter_results(db)}
    assert statuses == {with_meta["id"]: 302, plain["id"]: 200}
    assert worker.stop() == 0


def test_a_delayed_retry_waits_in_redis_and_survives_a_worker_restart(
    workers: Any, db: Any, pg_url: str, redis_url: str, mockserver: Any, r: redis.Redis
) -> None:
    first = workers(SCRAPERQ_RETRY_BACKOFF="4")
    first.wait_ready()
    [task_id] = enqueue(pg_url, redis_url, mockserver("/flaky/restart?fail=1&code=503"))
    wait_for(lambda: r.zcard(f"{SPIDER}:delayed") == 1, timeout=30, message="the retry waiting in Redis")
    assert first.stop(signal.SIGKILL) != 0  # the retry is not in the worker: it is in Redis
    second = workers(SCRAPERQ_RETRY_BACKOFF="4")
    second.wait_ready()
    wait_for(lambda: all_final(db, 1), timeout=60, message="the retried task final")
    [task] = list_tasks(db)
    assert (task["id"], task["status"], task["attempts"]) == (task_id, "completed", 2)
    assert mockserver.hits()["/flaky/restart?fail=1&code=503"] == 2
    assert second.stop() == 0


def test_an_unreachable_redis_is_one_line_at_start(pg_url: str) -> None:
    done = crawl(pg_url, SPIDER, REDIS_URL="redis://:secret@127.0.0.1:1/0")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "scrapy crawl: error: cannot connect to Redis at redis://:***@127.0.0.1:1/0:"
        " Error 111 connecting to 127.0.0.1:1. Connection refused."
    )
