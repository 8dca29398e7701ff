"""``scraperq dead list|requeue|purge``: dead letters as workers write them, listed, replayed, deleted."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from scraperq.queue.feeder import check_entries
from scraperq.queue.keys import QueueKeys
from scraperq.queue.redisqueue import RedisQueue, dead_letter
from tests.helpers import scraperq

HOSTILE = b"http://example.com/\x1b[31mred\xff"  # a terminal escape and a byte that is not UTF-8


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def refuse(r: redis.Redis, spider: str, *payloads: bytes | str) -> None:
    """What a worker does with payloads it refuses: take them from start_urls, check them, dead-letter them."""
    queue = RedisQueue(r, QueueKeys.for_spider(spider), worker="w1")
    r.lpush(f"{spider}:start_urls", *payloads)
    parsed, refused = check_entries(queue.feed(len(payloads)), allow=False, max_bytes=65536)
    assert parsed == []
    queue.dead_letter([(e, dead_letter(raw, why, spider=spider, worker="w1")) for e, raw, why in refused])


def dead(db_url: str, redis_url: str, *args: str) -> Any:
    return scraperq(db_url, "dead", *args, REDIS_URL=redis_url)


def listed(sqlite_url: str, redis_url: str, *args: str) -> list[dict[str, Any]]:
    done = dead(sqlite_url, redis_url, "list", "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_list_shows_reason_time_and_an_escaped_excerpt(sqlite_url: str, redis_url: str, r: redis.Redis) -> None:
    refuse(r, "generic", "not a url", HOSTILE)
    refuse(r, "books", '{"url": "https://example.com/", "meta": {"download_slot": "x"}}')
    done = dead(sqlite_url, redis_url, "list")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["ID", "SPIDER", "AT", "REASON", "PAYLOAD"]
    assert len(rows) == 3
    assert "\x1b" not in done.stdout
    [hostile] = [row for row in rows if "red" in row]
    assert "http://example.com/\\x1b[31mred\\xff" in hostile  # shown, not obeyed
    assert "payload is not UTF-8 text (byte 0xff" in hostile
    assert re.match(r"^[0-9a-f]{12}  generic  \d{4}-\d\d-\d\dT", hostile)
    [books] = listed(sqlite_url, redis_url, "--spider", "books")
    assert books["reason"].startswith("payload meta key 'download_slot' is not allowed")
    assert (books["spider"], books["worker"], books["requeueable"]) == ("books", "w1", True)
    assert dead(sqlite_url, redis_url, "list", "--spider", "nobody").stdout == "no dead letters for spider nobody\n"


def test_requeue_puts_the_payloads_back_as_they_came_and_purge_deletes(
    sqlite_url: str, redis_url: str, r: redis.Redis
) -> None:
    refuse(r, "generic", "first bad", HOSTILE, "x" * 3000)
    letters = listed(sqlite_url, redis_url)
    [hostile] = [x for x in letters if "red" in x["payload"]]

    done = dead(sqlite_url, redis_url, "requeue", hostile["id"])
    assert (done.returncode, done.stdout) == (0, "requeued 1 dead letters (1 of generic)\n")
    assert r.lrange("generic:start_urls", 0, -1) == [HOSTILE]  # the exact bytes, for workers to check again
    assert hostile["id"] not in {x["id"] for x in listed(sqlite_url, redis_url)}

    done = dead(sqlite_url, redis_url, "requeue", "--spider", "generic")
    assert done.returncode == 0, done.stderr
    # The letter that kept only part of its payload stays, saying why.
    assert done.stdout.splitlines()[0] == "requeued 1 dead letters (1 of generic)"
    assert "only the first 2,000 characters of its payload were kept" in done.stdout
    assert r.lrange("generic:start_urls", 0, -1) == [b"first bad", HOSTILE]
    [cut] = listed(sqlite_url, redis_url)
    assert (cut["payload_bytes"], cut["requeueable"]) == (3000, False)

    assert dead(sqlite_url, redis_url, "purge").stdout == "purged 1 dead letters (1 of generic)\n"
    assert listed(sqlite_url, redis_url) == []
    assert r.llen("generic:start_urls") == 2  # purge touches only the dead letters


def test_bad_ids_and_a_missing_redis_are_one_line_and_exit_2(sqlite_url: str, redis_url: str, r: redis.Redis) -> None:
    refuse(r, "generic", "bad")
    done = dead(sqlite_url, redis_url, "purge", "nothex")
    assert (done.returncode, done.stderr.count("\n")) == (2, 1)
    assert "'nothex' is not a dead letter id" in done.stderr
    done = dead(sqlite_url, redis_url, "requeue", "0123456789ab")
    assert done.returncode == 2 and "no dead letter with id 0123456789ab" in done.stderr
    assert len(listed(sqlite_url, redis_url)) == 1  # nothing lost
    done = scraperq(sqlite_url, "dead", "list")
    assert done.returncode == 2 and "REDIS_URL is not set" in done.stderr
