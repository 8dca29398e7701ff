"""Checked against references: scrapy-redis' own ``make_request_from_data``, and Python's own unpickler.

* A worker hands a scrapy-redis spider's payloads to the spider's ``make_request_from_data``:
  for payloads in scrapy-redis' JSON form, the request is the one scrapy-redis makes itself.
* The import's unpickler reads plain data exactly as ``pickle.loads`` does (protocols 3 and
  later, which hold bytes as data), and refuses the rest at every protocol.
"""

from __future__ import annotations

import datetime
import json
import os
import pickle
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scraperq.errors import BadInput
from scraperq.payload_meta import read_by_framework
from scraperq.queue.scrapyredisimport import plain_loads
from scraperq.queue.startreader import OWN_KEYS, ScrapyRedisStartReader
from tests.helpers import ROOT

EXAMPLE = ROOT / "tests" / "data" / "scrapy_redis_example"


def example_spider() -> Any:
    sys.path.insert(0, str(EXAMPLE))
    try:
        from example.spiders.myspider_redis import MySpider
    finally:
        sys.path.remove(str(EXAMPLE))
    spider = MySpider(domain="127.0.0.1")
    spider.redis_encoding = "utf-8"
    return spider


SPIDER = example_spider()
READER = ScrapyRedisStartReader(SPIDER, allow=True, max_bytes=65536)

names = st.text(st.characters(categories=("L", "N"), include_characters="-_"), min_size=1, max_size=8)
scalars = st.one_of(st.integers(-1000, 1000), st.text(max_size=10), st.booleans(), st.none())
payloads = st.fixed_dictionaries(
    {"url": st.sampled_from(["http://127.0.0.1:1/", "https://example.com/a?b=c", "http://example.org/ü"])},
    optional={
        "meta": st.dictionaries(names.filter(lambda k: not read_by_framework(k)), scalars),
        "method": st.sampled_from(["get", "POST", "put"]),
        "form": st.dictionaries(names.filter(lambda k: k not in ("url", "meta", "method", *OWN_KEYS)), names),
    },
)


@given(payloads)
def test_a_json_payload_makes_the_request_scrapy_redis_makes(data: dict[str, Any]) -> None:
    form = data.pop("form", {})
    raw = json.dumps({**data, **form}, ensure_ascii=False)
    expected = SPIDER.make_request_from_data(raw.encode())  # scrapy-redis' own, as it reads Redis
    [made] = READER.requests(READER.read(raw))
    assert (made.url, made.method, made.body, made.meta, type(made)) == (
        expected.url,
        expected.method,
        expected.body,
        expected.meta,
        type(expected),
    )
    assert made.dont_filter and made.headers == expected.headers


@given(payloads, st.integers(1, 10**6), st.integers(-1000, 1000))
def test_scraperqs_own_keys_are_read_and_never_reach_the_spider(
    data: dict[str, Any], task_id: int, priority: int
) -> None:
    data.pop("form", None)
    payload = READER.read(json.dumps({**data, "task_id": task_id, "priority": priority}))
    assert (payload.task_id, payload.priority) == (task_id, priority)
    [made] = READER.requests(payload)
    expected = SPIDER.make_request_from_data(json.dumps(data).encode())
    assert (made.url, made.body, made.priority) == (expected.url, expected.body, priority)


plain = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(), st.binary()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=5), st.binary(max_size=5), st.integers()), inner, max_size=4),
    ),
    max_leaves=20,
)


@given(plain, st.integers(3, pickle.HIGHEST_PROTOCOL))  # scrapy-redis writes the highest; bytes need 3
def test_plain_data_is_read_as_pickle_reads_it(value: Any, protocol: int) -> None:
    data = pickle.dumps(value, protocol=protocol)
    assert plain_loads(data) == pickle.loads(data) == value


class Shell:
    def __reduce__(self) -> Any:
        return (os.system, ("exit 3",))


@pytest.mark.parametrize(
    "value",
    [Shell(), {1, 2}, frozenset({1}), datetime.date(2026, 1, 1), bytearray(b"x"), {"url": "http://a/", "x": Shell()}],
    ids=["reduce", "set", "frozenset", "date", "bytearray", "nested"],
)
def test_anything_else_is_refused_without_running_it(value: Any) -> None:
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(BadInput, match="^not plain data: "):
            plain_loads(pickle.dumps(value, protocol=protocol))


def test_truncated_bytes_are_refused_in_one_line() -> None:
    with pytest.raises(BadInput, match="^not a pickle: "):
        plain_loads(pickle.dumps({"url": "http://a/"})[:-3])


def test_redis_batch_size_is_how_many_payloads_a_worker_takes_at_a_time() -> None:
    spider = example_spider()
    spider.redis_batch_size = 7
    assert ScrapyRedisStartReader(spider, allow=True, max_bytes=65536).batch == 7


def test_make_request_from_data_that_fails_or_makes_nothing_is_a_reason_not_a_crash() -> None:
    spider = example_spider()

    def broken(data: bytes) -> Any:
        raise KeyError("id")

    spider.make_request_from_data = broken
    reader = ScrapyRedisStartReader(spider, allow=False, max_bytes=100)
    with pytest.raises(BadInput, match=r"^make_request_from_data failed: KeyError: 'id'$"):
        reader.read('{"url": "https://example.com/"}')
    with pytest.raises(BadInput, match="larger than the limit"):
        reader.read(json.dumps({"url": "https://example.com/" + "a" * 100}))
    with pytest.raises(BadInput, match="blocked: 10.0.0.5 is a private address"):
        READER.__class__(SPIDER, allow=False, max_bytes=65536).read('{"url": "http://10.0.0.5/"}')
