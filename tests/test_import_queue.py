"""``scraperq import-queue --from-scrapy-redis SPIDER``: a queue written by scrapy-redis itself, moved over.

The queues are written by scrapy-redis' own classes (``scrapy_redis.queue.PriorityQueue``
and ``FifoQueue``, with their pickle serializer), plus a hostile pickle whose
``__reduce__`` would run a shell command: it is refused and counted, and never runs.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest
import redis
import scrapy
from scrapy.http import FormRequest
from scrapy_redis.queue import FifoQueue, LifoQueue, PriorityQueue

from scraperq.queue.entries import Entry
from scraperq.queue.serialize import request_from_json
from scraperq.storage import open_database
from scraperq.storage.tasks import list_tasks
from tests.helpers import scraperq


class Hostile:
    """Unpickled by plain pickle, this runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (os.system, (f"touch {self.marker}",))


class Spider(scrapy.Spider):
    name = "generic"

    def parse_item(self, response: Any) -> None:
        pass


def tasks_of(db_url: str) -> list[dict[str, Any]]:
    with open_database(db_url) as db:
        return list(reversed(list_tasks(db, limit=1000)))


def entries(client: redis.Redis, key: str) -> list[Entry]:
    return [Entry.parse(m) for m in client.zrange(key, 0, -1)]


def test_a_priority_queue_is_imported_as_json_tasks_and_a_hostile_pickle_never_runs(
    sqlite_url: str, redis_url: str, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_url)
    spider = Spider()
    queue = PriorityQueue(client, spider, "%(spider)s:requests")
    queue.push(scrapy.Request("http://127.0.0.1:1/low", priority=-5))
    queue.push(scrapy.Request("http://127.0.0.1:1/high", priority=9, callback=spider.parse_item, meta={"depth": 2}))
    queue.push(FormRequest("http://127.0.0.1:1/form", formdata={"q": "news"}, cookies={"s": "1"}))
    marker = tmp_path / "ran"
    client.execute_command("ZADD", "generic:requests", 0, pickle.dumps(Hostile(marker), protocol=-1))
    client.sadd("generic:dupefilter", b"0123abcd")  # scrapy-redis' seen-set: a set of fingerprints
    before = sorted(client.zrange("generic:requests", 0, -1, withscores=True))

    proc = scraperq(sqlite_url, "import-queue", "--from-scrapy-redis", "generic", REDIS_URL=redis_url)

    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    assert "refused: not plain data: it names posix.system" in proc.stderr or "names os.system" in proc.stderr
    assert proc.stdout.startswith("imported 3 requests of generic as tasks, refused 1")
    # The old queue, untouched, out of the shared queue's way; scrapy-redis' seen-set too.
    assert sorted(client.zrange("generic:requests:scrapy-redis", 0, -1, withscores=True)) == before
    assert client.smembers("generic:dupefilter:scrapy-redis") == {b"0123abcd"}
    assert client.type("generic:dupefilter") == b"none"
    tasks = tasks_of(sqlite_url)
    assert [(t["url"], t["priority"], t["source"], t["status"]) for t in tasks] == [
        ("http://127.0.0.1:1/high", 9, "import", "pending"),
        ("http://127.0.0.1:1/form", 0, "import", "pending"),
        ("http://127.0.0.1:1/low", -5, "import", "pending"),
    ]
    queued = entries(client, "generic:requests")
    assert [e.task for e in queued] == [t["id"] for t in tasks]  # in scrapy-redis' pop order
    requests = [request_from_json(e.body, spider) for e in queued]
    high, form, low = requests
    assert (high.url, high.priority, high.callback, high.meta["depth"]) == (tasks[0]["url"], 9, spider.parse_item, 2)
    assert (type(form), form.method, form.body, form.cookies) == (FormRequest, "POST", b"q=news", {"s": "1"})
    assert low.priority == -5 and low.callback is None
    assert all(
        r.meta["task_root"] is True and r.meta["task_id"] == t["id"] for r, t in zip(requests, tasks, strict=True)
    )


def test_a_fifo_queue_keeps_its_order_and_delete_source_removes_what_was_imported(
    sqlite_url: str, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    spider = Spider()
    spider.name = "feed"
    queue = FifoQueue(client, spider, "old:%(spider)s")
    for n in range(3):
        queue.push(scrapy.Request(f"http://127.0.0.1:1/{n}"))
    client.lpush("old:feed", pickle.dumps({"url": "file:///etc/passwd"}))
    proc = scraperq(
        sqlite_url, "import-queue", "--from-scrapy-redis", "feed", "--key", "old:feed", "--delete-source",
        "--batch", "2", REDIS_URL=redis_url,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert [t["url"] for t in tasks_of(sqlite_url)] == [f"http://127.0.0.1:1/{n}" for n in range(3)]
    assert [json.loads(e.body)["url"] for e in entries(client, "feed:requests")] == [
        f"http://127.0.0.1:1/{n}" for n in range(3)
    ]
    # Only the refused entry is left where it was.
    assert [pickle.loads(m)["url"] for m in client.lrange("old:feed", 0, -1)] == ["file:///etc/passwd"]


def test_a_lifo_queue_is_imported_newest_first(sqlite_url: str, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    spider = Spider()
    queue = LifoQueue(client, spider, "stack:%(spider)s")
    for n in range(3):
        queue.push(scrapy.Request(f"http://127.0.0.1:1/{n}"))
    # The order scrapy-redis would pop them in, from a copy it pops.
    client.copy("stack:generic", "stack:copy")
    copy = LifoQueue(client, spider, "stack:copy")
    popped = [copy.pop().url for _ in range(3)]
    proc = scraperq(
        sqlite_url, "import-queue", "--from-scrapy-redis", "generic", "--key", "stack:generic", "--lifo",
        REDIS_URL=redis_url,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert popped == [f"http://127.0.0.1:1/{n}" for n in (2, 1, 0)]
    assert [t["url"] for t in tasks_of(sqlite_url)] == popped


@pytest.mark.parametrize(
    ("args", "setup", "says"),
    [
        (["--from-scrapy-redis", "nosuch"], None, "unknown spider 'nosuch'"),
        (["--from-scrapy-redis", "generic"], None, "generic:requests does not exist: nothing to import"),
        (
            ["--from-scrapy-redis", "generic", "--key", "k"],
            ("hash", "k"),
            "k is a Redis hash, not a scrapy-redis queue",
        ),
        (["--from-scrapy-redis", "generic", "--batch", "x"], None, "--batch 'x' is not a whole number"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(
    args: list[str], setup: tuple[str, str] | None, says: str, sqlite_url: str, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    if setup is not None:
        client.hset(setup[1], "a", "b")
    proc = scraperq(sqlite_url, "import-queue", *args, REDIS_URL=redis_url)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"scraperq: error: {says}"), line


def test_the_shared_queue_itself_is_not_imported_again(sqlite_url: str, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    PriorityQueue(client, Spider(), "%(spider)s:requests").push(scrapy.Request("http://127.0.0.1:1/a"))
    assert scraperq(sqlite_url, "import-queue", "--from-scrapy-redis", "generic", REDIS_URL=redis_url).returncode == 0
    again = scraperq(sqlite_url, "import-queue", "--from-scrapy-redis", "generic", REDIS_URL=redis_url)
    assert again.returncode == 2
    assert (
        again.stderr.strip()
        == "scraperq: error: generic:requests already holds the shared queue of generic: nothing to import"
    )
    assert len(tasks_of(sqlite_url)) == 1
