"""Requests survive the trip through Redis as JSON: callbacks by name, bytes, meta, subclasses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from scrapy import FormRequest, Request, Spider

from scraperq.queue.serialize import UnserializableRequest, request_from_json, request_to_json
from scraperq.queue.tracking import ENTRY_META


class ShopSpider(Spider):
    name = "shop"

    def parse_item(self, response: Any) -> None:
        pass

    def failed(self, failure: Any) -> None:
        pass


def roundtrip(request: Request, spider: Spider) -> Request:
    text = request_to_json(request, spider)
    json.loads(text)  # plain JSON, nothing pickled
    return request_from_json(text, spider)


def test_a_request_comes_back_with_everything_a_spider_set() -> None:
    spider = ShopSpider()
    request = Request(
        "https://example.com/item?id=1",
        callback=spider.parse_item,
        errback=spider.failed,
        method="POST",
        body=b"\x00\xffbinary",
        headers={"X-Token": "abc", "Accept-Language": ["en", "de"]},
        cookies={"session": "s1"},
        meta={"task_id": 7, "task_root": False, "depth": 2, "follow_roots": ["https://example.com/"]},
        cb_kwargs={"page": 3},
        priority=-2,
        dont_filter=True,
        flags=["retry"],
    )
    back = roundtrip(request, spider)
    assert back.url == request.url
    assert back.callback == spider.parse_item
    assert back.errback == spider.failed
    assert back.method == "POST"
    assert back.body == b"\x00\xffbinary"
    assert back.headers.getlist("Accept-Language") == [b"en", b"de"]
    assert back.headers["X-Token"] == b"abc"
    assert back.cookies == {"session": "s1"}
    assert back.meta == request.meta
    assert back.cb_kwargs == {"page": 3}
    assert (back.priority, back.dont_filter, back.flags) == (-2, True, ["retry"])


def test_request_subclasses_come_back_as_themselves() -> None:
    spider = ShopSpider()
    request = FormRequest("https://example.com/search", formdata={"q": "books"}, callback=spider.parse_item)
    back = roundtrip(request, spider)
    assert type(back) is FormRequest
    assert back.body == b"q=books"


def test_the_entry_marker_of_one_worker_is_not_carried_into_redis() -> None:
    spider = ShopSpider()
    request = Request("https://example.com/", meta={ENTRY_META: "0000000000ab", "task_id": 1})
    assert ENTRY_META not in roundtrip(request, spider).meta


def test_meta_that_is_not_json_is_refused_naming_the_key() -> None:
    spider = ShopSpider()
    request = Request("https://example.com/", meta={"task_id": 1, "handle": object()})
    with pytest.raises(UnserializableRequest, match=r"meta\['handle'\] cannot be stored as JSON"):
        request_to_json(request, spider)


def test_a_callback_that_is_not_a_spider_method_is_refused() -> None:
    spider = ShopSpider()
    with pytest.raises(UnserializableRequest, match="is not a method of the spider"):
        request_to_json(Request("https://example.com/", callback=lambda response: None), spider)
