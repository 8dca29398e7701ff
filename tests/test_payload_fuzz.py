"""Generated payloads against the real checks: each is accepted as valid or dead-lettered with a reason.

Arbitrary bytes, JSON values, deep nesting, huge strings, lone surrogates and meta of
random keys go through :func:`scraperq.payloads.parse_payload` alone, and in batches
mixed with good payloads through what a worker does with a batch: pushed to a real
Redis, taken by the queue's feed script, checked (:func:`scraperq.queue.feeder.check_entries`),
given task rows in a real database (:func:`scraperq.queue.feeder.task_rows`) and the
refused ones dead-lettered by the queue's own script.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scraperq.errors import BadInput
from scraperq.payload_meta import ALLOWED
from scraperq.payloads import MAX_JSON_DEPTH, StartPayload, json_depth, parse_payload, payload_json
from scraperq.queue.feeder import check_entries, task_rows
from scraperq.queue.keys import QueueKeys
from scraperq.queue.redisqueue import RedisQueue, dead_letter
from scraperq.storage import open_database
from scraperq.urls import validate_url

MAX_BYTES = 65536

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
urls = st.sampled_from(["https://example.com/", "http://example.org/a?b=c", "https://10.0.0.5/", "ftp://x/"]) | st.text(
    max_size=30
)
meta_keys = st.sampled_from([*ALLOWED, "proxy", "download_slot", "task_id", "cookiejar", "_job"]) | st.text(max_size=12)
objects = st.fixed_dictionaries(
    {"url": urls},
    optional={
        "task_id": json_values,
        "priority": json_values,
        "meta": st.dictionaries(meta_keys, json_values, max_size=4) | json_values,
        "extra": json_values,
    },
)


def nested(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "list" else '{"a":' * depth + "1" + "}" * depth


hostile = st.one_of(
    st.binary(max_size=200),  # arbitrary bytes, mostly not UTF-8
    json_values.map(lambda v: json.dumps(v).encode()),
    objects.map(lambda v: json.dumps(v).encode()),
    objects.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),  # raw surrogates
    st.builds(nested, st.integers(1, 40_000), st.sampled_from(["list", "object"])).map(str.encode),
    st.integers(MAX_BYTES - 40, MAX_BYTES + 40).map(  # around the size limit
        lambda n: json.dumps({"url": "https://example.com/", "meta": {"render_wait_for": "x" * n}}).encode()
    ),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=5).map(
        lambda t: json.dumps({"url": "https://example.com/" + t}).encode()  # JSON-escaped lone surrogates
    ),
)


def check(raw: bytes | str) -> StartPayload | BadInput:
    try:
        return parse_payload(raw, allow=False, max_bytes=MAX_BYTES)
    except BadInput as exc:
        return exc


def assert_valid(payload: StartPayload) -> None:
    """What an accepted payload promises, whatever it came from."""
    assert validate_url(payload.url) == payload.url
    payload.url.encode("utf-8")  # no lone surrogates
    assert set(payload.meta) <= set(ALLOWED)
    assert json_depth(payload.meta, MAX_JSON_DEPTH) < MAX_JSON_DEPTH
    assert payload.task_id is None or 1 <= payload.task_id < 2**63
    for value in payload.meta.values():
        assert not (isinstance(value, float) and not math.isfinite(value))
    # What enqueue and the API write for it reads back the same.
    assert (
        parse_payload(payload_json(payload.url, task_id=payload.task_id, priority=payload.priority, meta=payload.meta))
        == payload
    )


@settings(max_examples=200, deadline=None)
@given(hostile)
def test_every_payload_is_accepted_or_refused_with_a_reason(raw: bytes) -> None:
    outcome = check(raw)
    if isinstance(outcome, BadInput):
        assert str(outcome).strip() and "\n" not in str(outcome)
        assert len(str(outcome)) < 1000  # one line, however large the payload
    else:
        assert_valid(outcome)
        raw.decode("utf-8")  # the reference: anything accepted is UTF-8 by Python's own codec
        assert len(raw) <= MAX_BYTES
    # The same bytes as a worker reads them from Redis (invalid bytes as lone surrogates): the same verdict.
    again = check(raw.decode("utf-8", "surrogateescape"))
    assert type(again) is type(outcome)


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(meta_keys, json_values, max_size=5))
def test_meta_is_an_allowlist(meta: dict[str, Any]) -> None:
    outcome = check(json.dumps({"url": "https://example.com/", "meta": meta}))
    if any(key not in ALLOWED for key in meta):
        assert isinstance(outcome, BadInput)
    if isinstance(outcome, StartPayload):
        assert_valid(outcome)
        assert outcome.meta == meta


def test_a_dead_letter_of_any_payload_is_json_redis_accepts() -> None:
    for raw in ("x" * 5000, "caf\udce9", "\ud800 lone", "plain"):
        letter = json.loads(dead_letter(raw, "why", spider="s", worker="w"))
        assert letter["reason"] == "why"
        json.dumps(letter, ensure_ascii=False).encode("utf-8")


# -- batches through the real queue and database ----------------------------------------------


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def fuzz_db(pg_url: str) -> Iterator[Any]:
    db = open_database(pg_url)
    yield db
    db.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(hostile, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_bad_payloads_never_hold_back_the_good_ones_of_their_batch(
    client: redis.Redis, fuzz_db: Any, bad: list[bytes], rng: Any
) -> None:
    spider = f"fuzz{uuid.uuid4().hex[:8]}"
    keys = QueueKeys.for_spider(spider)
    queue = RedisQueue(client, keys, worker="w1")
    good = [f"https://example.com/{spider}/{i}" for i in range(len(bad))]
    batch: list[bytes | str] = [*bad, *good]
    rng.shuffle(batch)
    try:
        client.lpush(keys.start_urls, *batch)
        entries = queue.feed(len(batch))  # the feed script, as a worker takes a batch
        assert len(entries) == len(batch)
        parsed, refused = check_entries(entries, allow=False, max_bytes=MAX_BYTES)
        assert len(parsed) + len(refused) == len(batch)
        created, _, by_database = task_rows(fuzz_db, spider, parsed, None)
        assert by_database == {}  # the checks leave nothing the database refuses
        taken = {payload.url for _, _, payload in parsed}
        assert set(good) <= taken
        assert all(token in created for _, token, payload in parsed if payload.task_id is None)
        for _, _, payload in parsed:
            assert_valid(payload)
        letters = [(entry, dead_letter(raw, reason, spider=spider, worker="w1")) for entry, raw, reason in refused]
        assert queue.dead_letter(letters) == len(refused)
        stored = [json.loads(x) for x in client.lrange(keys.dead, 0, -1)]
        assert len(stored) == len(refused) and all(letter["reason"] for letter in stored)
        assert client.hlen(queue.held_key) == len(parsed)  # the rest is held until queued, as in a worker
    finally:
        client.delete(*client.keys(f"{spider}:*"))
