"""Start payloads: what a worker accepts from ``NAME:start_urls``, and why it refuses the rest."""

from __future__ import annotations

import json
import sys

import pytest

from scraperq.errors import BadInput
from scraperq.payloads import StartPayload, parse_allow_private, parse_payload, payload_json, payload_texts

LOOPBACK = parse_allow_private("127.0.0.0/8")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://example.com/a", StartPayload("https://example.com/a")),
        (b"  http://example.com/b\n", StartPayload("http://example.com/b")),
        ('"https://example.com/c"', StartPayload("https://example.com/c")),
        (
            '{"url": "https://example.com/d", "task_id": 12, "priority": -3, "meta": {"source_page": "item"}}',
            StartPayload("https://example.com/d", 12, -3, {"source_page": "item"}),
        ),
        ("http://127.0.0.1:8080/local", StartPayload("http://127.0.0.1:8080/local")),  # allowed network
    ],
)
def test_accepted_payloads(raw: str | bytes, expected: StartPayload) -> None:
    assert parse_payload(raw, allow=LOOPBACK) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not a url at all", "payload is neither JSON nor a URL"),
        ("{not json", "payload is not valid JSON"),
        ('{"priority": 1}', "payload has no url"),
        ('["https://example.com/"]', "payload is JSON but not an object"),
        ('{"url": "ftp://example.com/file"}', "scheme 'ftp', only http and https are allowed"),
        ("file:///etc/passwd", "scheme 'file', only http and https are allowed"),
        ('{"url": "http://10.0.0.5/admin"}', "blocked: 10.0.0.5 is a private address"),
        ("http://169.254.169.254/latest/meta-data", "blocked: 169.254.169.254 is a link-local address"),
        ("http://localhost:6379/", "blocked: localhost is a loopback address"),
        ('{"url": "https://example.com/", "priority": "high"}', "payload priority 'high' is not a whole number"),
        ('{"url": "https://example.com/", "task_id": 0}', "payload task_id 0 is not a positive whole number"),
        ('{"url": "https://example.com/", "meta": {"task_id": 5}}', "payload meta may not set 'task_id'"),
        ('{"url": "https://example.com/", "meta": {"proxy": "http://10.0.0.5:3128"}}', "key 'proxy' is not allowed"),
        (
            '{"url": "https://example.com/", "meta": {"playwright": true, "playwright_context_kwargs": {}}}',
            "meta key 'playwright_context_kwargs' is not allowed",
        ),
        (
            '{"url": "https://example.com/", "meta": {"dont_obey_robotstxt": true}}',
            "'dont_obey_robotstxt' is not allowed",
        ),
        ('{"url": "https://example.com/", "meta": {"download_maxsize": 0}}', "'download_maxsize' is not allowed"),
        ('{"url": "https://example.com/", "prioirty": 5}', "payload has unknown field 'prioirty'"),
        (b"http://example.com/\xff", "payload is not UTF-8 text (byte 0xff at position 19)"),
        (
            "http://example.com/\udcff",
            "payload is not UTF-8 text (byte 0xff at position 19)",
        ),  # as queue entries are read
        ('{"url": "https://example.com/", "meta": {"download_slot": "x"}}', "meta key 'download_slot' is not allowed"),
        ('{"url": "https://example.com/", "meta": {"depth": -5}}', "meta 'depth' must be a whole number from 0 to 100"),
        ('{"url": "https://example.com/", "meta": {"depth": true}}', "meta 'depth' must be a whole number"),
        ('{"url": "https://example.com/", "meta": {"download_timeout": 1e9}}', "from 1 to 180"),
        ('{"url": "https://example.com/", "meta": {"download_timeout": NaN}}', "from 1 to 180"),
        ('{"url": "https://example.com/", "meta": {"handle_httpstatus_list": [302, 99]}}', "HTTP status codes"),
        ('{"url": "https://example.com/", "meta": {"render": "sometimes"}}', "must be one of 'never', 'auto'"),
        ('{"url": "https://example.com/", "meta": {"render_wait_for": "a\\u0000"}}', "without control characters"),
        ('{"url": "https://example.com/", "meta": []}', "payload meta is not a JSON object"),
        ('{"url": "https://example.com/\\udc00"}', "payload url holds a lone surrogate"),
        ('{"url": "https://example.com/", "task_id": 9223372036854775808}', "is not a positive whole number"),
        ('{"url": "https://example.com/", "priority": 1' + "0" * 5000 + "}", "payload JSON cannot be read"),
        ("[" * 30_000, "payload JSON is nested deeper than 8 levels"),  # RecursionError inside the parser
        ('{"url": "https://example.com/", "meta": {"depth": [[[[[[[[1]]]]]]]]}}', "nested deeper than 8 levels"),
    ],
)
def test_refused_payloads_say_why(raw: str | bytes, reason: str) -> None:
    with pytest.raises(BadInput, match=None) as caught:
        parse_payload(raw, allow=False)
    assert reason in str(caught.value)


def test_an_oversized_payload_is_refused_before_it_is_parsed() -> None:
    huge = json.dumps({"url": "https://example.com/", "meta": {"blob": "x" * 100_000}})
    with pytest.raises(BadInput, match=r"payload of 100\d\d\d bytes is larger than the limit of 65536"):
        parse_payload(huge)


def test_written_payloads_read_back_the_same() -> None:
    meta = {"depth": 2, "dont_redirect": True, "handle_httpstatus_list": [302], "download_timeout": 7.5}
    text = payload_json("https://example.com/x", task_id=4, priority=2, meta=meta)
    assert parse_payload(text) == StartPayload("https://example.com/x", 4, 2, meta)
    assert payload_json("https://example.com/y") == '{"url":"https://example.com/y"}'


def test_bulk_payloads_are_the_same_text_as_single_ones() -> None:
    urls = ["https://example.com/a", 'https://example.com/"q"\\é', "https://example.com/\u2028"]
    for priority in (0, 5, -3):
        expected = [payload_json(u, task_id=i + 1, priority=priority) for i, u in enumerate(urls)]
        assert payload_texts(urls, [1, 2, 3], priority) == expected


def test_payload_checks_need_neither_scrapy_nor_twisted() -> None:
    # The scheduler daemon validates payloads; DESIGN.md keeps the crawl side out of it.
    import subprocess

    code = (
        "import sys, scraperq.payloads; print(sorted({m.split('.')[0] for m in sys.modules} & {'scrapy', 'twisted'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
