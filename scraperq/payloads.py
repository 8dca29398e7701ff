"""Start payloads: what ``NAME:start_urls`` holds, checked the same way everywhere.

A payload is a bare URL or a JSON object ``{"url": ..., "task_id"?: ..., "priority"?:
..., "meta"?: {...}}`` (DESIGN.md). Workers parse what they take from Redis with
:func:`parse_payload`; ``scraperq enqueue`` and the scheduler's HTTP API check
URLs with :func:`check_start_url` and write payloads with :func:`payload_json`,
so a URL they accept is one a worker accepts.

Refused, with a one-line reason (:class:`~scraperq.errors.BadInput`): text that is
not UTF-8, neither JSON nor a URL, JSON nested deeper than ``MAX_JSON_DEPTH``,
JSON without ``url``, unknown fields, ``meta`` keys or values outside the allowlist
(:mod:`scraperq.payload_meta`), a scheme other than http/https, an address
``SCRAPERQ_ALLOW_PRIVATE`` blocks (loopback, private, link-local... written as an
IP address or ``localhost``; names that resolve to such addresses are refused by
the SSRF guard when fetched), and a payload larger than ``SCRAPERQ_MAX_PAYLOAD_BYTES``.
Nothing here raises anything but BadInput for any input (tests/test_payload_fuzz.py).

:func:`enqueue_urls` is the one way URLs are submitted (``scraperq enqueue``, the
HTTP API): a ``tasks`` row per URL, then a JSON payload with its ``task_id``
pushed to ``NAME:start_urls``, in chunks of 10,000, each chunk one COPY into
``tasks`` (PostgreSQL; multi-row inserts on SQLite) and one pipeline of ``LPUSH``.

No Scrapy or Twisted here: the scheduler daemon imports this module.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import redis

from scraperq.addresses import AllowPrivate, address_problem, parse_allow_private  # noqa: F401 - re-exported
from scraperq.errors import BadInput, StorageUnavailable
from scraperq.payload_meta import check_meta
from scraperq.queue.defaults import START_URLS_KEY
from scraperq.queue.taskrows import copy_pending
from scraperq.storage.connection import utcnow
from scraperq.storage.tasks import mark_failed
from scraperq.urls import url_and_host

if TYPE_CHECKING:
    from scraperq.storage import Database

DEFAULT_MAX_PAYLOAD_BYTES = 65536
MAX_PRIORITY = 1_000_000
MAX_TASK_ID = 2**63 - 1  # tasks.id is BIGINT
# Levels of JSON nesting a payload may have: the object, its meta, a list in it, and room to spare.
MAX_JSON_DEPTH = 8
FIELDS = ("url", "task_id", "priority", "meta")


@dataclass(frozen=True)
class StartPayload:
    url: str
    task_id: int | None = None
    priority: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


# -- addresses -------------------------------------------------------------------------


def blocked_reason(url: str, allow: AllowPrivate) -> str | None:
    """``blocked: 10.0.0.5 is a private address`` when the URL's host is one we refuse."""
    if allow is True:
        return None
    return _blocked_host(urlsplit(url).hostname or "", allow)


def _blocked_host(hostname: str, allow: AllowPrivate) -> str | None:
    if allow is True:
        return None
    host = hostname.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        ip: Any = ipaddress.ip_address("127.0.0.1")  # RFC 6761: always loopback
    elif not host or (not host[-1].isdigit() and ":" not in host):
        return None  # a name (an address ends in a digit or has colons): the SSRF guard checks what it resolves to
    else:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return None
    problem = address_problem(ip)
    if problem is None or (allow and any(ip in net for net in allow)):
        return None
    return f"blocked: {host} is {problem}"


def check_start_url(raw: object, allow: AllowPrivate) -> str:
    """The URL, stripped, or BadInput: not a URL, a scheme we do not fetch, a blocked address."""
    url, host = url_and_host(raw)
    problem = _blocked_host(host, allow)
    if problem is not None:
        raise BadInput(problem)
    return url


# -- payloads ----------------------------------------------------------------------------


def parse_payload(
    raw: bytes | str,
    *,
    allow: AllowPrivate = False,
    max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
) -> StartPayload:
    """One payload from ``start_urls``, checked; BadInput says what is wrong with it.

    ``raw`` as bytes, or as text in which bytes that were not UTF-8 are lone
    surrogates (Python's ``surrogateescape``, as queue entries are read).
    """
    if isinstance(raw, bytes):
        size = len(raw)
        _check_size(size, max_bytes)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput(f"payload is not UTF-8 text (byte {raw[exc.start]:#04x} at position {exc.start})") from None
    else:
        text = raw
        if not text.isascii():
            try:
                size = len(text.encode("utf-8"))
            except UnicodeEncodeError as exc:
                raise BadInput(
                    f"payload is not UTF-8 text ({_undecoded(text[exc.start])} at position {exc.start})"
                ) from None
        else:
            size = len(text)
        _check_size(size, max_bytes)
    text = text.strip()
    if not text:
        raise BadInput("empty payload")
    if text[0] not in '{["':
        if "://" not in text:
            raise BadInput(f"payload is neither JSON nor a URL: {_shown(text)}")
        return StartPayload(url=check_start_url(text, allow))
    data = _load_json(text)
    if isinstance(data, str):
        return StartPayload(url=_checked_url(data, allow))
    if not isinstance(data, dict):
        raise BadInput(f"payload is JSON but not an object with a url: {_shown(text)}")
    return _from_object(data, allow)


def _undecoded(char: str) -> str:
    code = ord(char)
    return f"byte {code - 0xDC00:#04x}" if 0xDC80 <= code <= 0xDCFF else f"lone surrogate U+{code:04X}"


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise BadInput(f"payload of {size} bytes is larger than the limit of {max_bytes} (SCRAPERQ_MAX_PAYLOAD_BYTES)")


def _load_json(text: str) -> Any:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"payload is not valid JSON ({exc.msg} at character {exc.pos}): {_shown(text)}") from None
    except RecursionError:  # the parser nests once per level: thousands of [[[[ exhaust the stack
        raise BadInput(f"payload JSON is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # a number of more digits than Python converts (sys.get_int_max_str_digits)
        raise BadInput(f"payload JSON cannot be read: {exc}") from None
    if json_depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise BadInput(f"payload JSON is nested deeper than {MAX_JSON_DEPTH} levels")
    return data


def json_depth(value: Any, limit: int) -> int:
    """Levels of arrays and objects in a parsed JSON value (a scalar is 0), counted level by level
    without recursion, and no further than ``limit + 1``."""
    depth = 0
    level = [value] if isinstance(value, dict | list) else []
    while level and depth <= limit:
        depth += 1
        inner: list[Any] = []
        for node in level:
            children = node.values() if isinstance(node, dict) else node
            inner.extend(child for child in children if isinstance(child, dict | list))
        level = inner
    return depth


def _checked_url(value: object, allow: AllowPrivate) -> str:
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadInput("payload url holds a lone surrogate (\\ud800-\\udfff), which is not text") from None
    return check_start_url(value, allow)


def _from_object(data: dict[str, Any], allow: AllowPrivate) -> StartPayload:
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        shown = unknown[0] if len(unknown[0]) <= 60 else unknown[0][:60] + "..."
        raise BadInput(f"payload has unknown field {shown!r}: use {', '.join(FIELDS)}")
    if "url" not in data:
        raise BadInput("payload has no url")
    url = _checked_url(data["url"], allow)
    task_id = data.get("task_id")
    if task_id is not None and (not _is_int(task_id) or not 1 <= task_id <= MAX_TASK_ID):
        raise BadInput(f"payload task_id {_shown_value(task_id)} is not a positive whole number below 2^63")
    priority = data.get("priority", 0)
    if priority is None:
        priority = 0
    if not _is_int(priority) or abs(priority) > MAX_PRIORITY:
        raise BadInput(
            f"payload priority {_shown_value(priority)} is not a whole number from -{MAX_PRIORITY} to {MAX_PRIORITY}"
        )
    meta = data.get("meta")
    meta = {} if meta is None else check_meta(meta)
    return StartPayload(url=url, task_id=task_id, priority=int(priority), meta=meta)


def payload_json(url: str, *, task_id: int | None = None, priority: int = 0, meta: dict[str, Any] | None = None) -> str:
    """The JSON payload for ``start_urls`` (fields at their default left out)."""
    data: dict[str, Any] = {"url": url}
    if task_id is not None:
        data["task_id"] = int(task_id)
    if priority:
        data["priority"] = int(priority)
    if meta:
        data["meta"] = meta
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:80] + "...")


def _shown_value(value: object) -> str:
    """A JSON value in a reason, bounded: a huge number or string must not make a huge message."""
    try:
        text = repr(value)
    except ValueError:  # an int too large to print as decimal
        return "(a number too large to show)"
    return text if len(text) <= 80 else text[:80] + "..."


# -- submitting --------------------------------------------------------------------------

# URLs per step of a bulk submission: one COPY (or multi-row insert) and one pipeline of LPUSHes.
ENQUEUE_CHUNK = 10_000
# Payloads per LPUSH: Redis takes any number, but one command of megabytes holds it up for others.
LPUSH_CHUNK = 2_000


def queue_client(settings: Any) -> redis.Redis:
    """A client of the shared queue's Redis (``REDIS_URL``, ``REDIS_PARAMS``) to push payloads with.

    ConfigError when ``REDIS_URL`` is unset, StorageUnavailable when Redis does not answer.
    """
    from scraperq.queue.connection import client_from_settings

    return client_from_settings(settings)


def start_urls_key(spider: str, template: str | None = None) -> str:
    """``NAME:start_urls`` (``REDIS_START_URLS_KEY`` may change the template, as in scrapy-redis)."""
    return (template or START_URLS_KEY) % {"name": spider, "spider": spider}


def enqueue_urls(
    db: Database,
    client: Any,
    urls: list[str],
    *,
    spider: str,
    priority: int = 0,
    source: str = "cli",
    key: str | None = None,
    chunk: int = ENQUEUE_CHUNK,
    progress: Callable[[int], None] | None = None,
) -> list[int]:
    """Create a pending task per (already checked) URL and queue it; the task ids, in order.

    Per chunk of URLs: the task rows in one transaction (PostgreSQL: one COPY,
    :func:`~scraperq.queue.taskrows.copy_pending`; SQLite: multi-row inserts), then
    their payloads in one pipeline of ``LPUSH`` commands, in order. ``progress`` is
    told how many URLs each chunk queued. ``client`` is a ``redis.Redis``. Should Redis
    fail half-way, the tasks of the chunk that could not be queued are marked failed
    (saying so) and :class:`~scraperq.errors.StorageUnavailable` tells how many were queued.
    """
    key = key or start_urls_key(spider)
    ids: list[int] = []
    chunk = max(1, chunk)
    for start in range(0, len(urls), chunk):
        part = urls[start : start + chunk]
        with db.transaction() as cur:
            new = copy_pending(cur, part, spider=spider, priority=priority, source=source)
        payloads = payload_texts(part, new, priority)
        try:
            pipe = client.pipeline(transaction=False)
            for first in range(0, len(payloads), LPUSH_CHUNK):
                pipe.lpush(key, *payloads[first : first + LPUSH_CHUNK])
            pipe.execute()
        except redis.RedisError as exc:  # the tasks must not stay pending for ever
            _mark_unqueued(db, new, f"could not be queued: {type(exc).__name__}: {exc}")
            raise StorageUnavailable(
                f"Redis refused the URLs after {len(ids)} of {len(urls)} were queued: {exc}"
            ) from None
        ids.extend(new)
        if progress is not None:
            progress(len(part))
    return ids


def payload_texts(urls: Sequence[str], task_ids: Sequence[int], priority: int = 0) -> list[str]:
    """:func:`payload_json` of each URL with its task, the same text, built without a dict per URL."""
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    tail = f',"priority":{int(priority)}}}' if priority else "}"
    return [f'{{"url":{dumps(url)},"task_id":{int(task_id)}{tail}' for url, task_id in zip(urls, task_ids, strict=True)]


def _mark_unqueued(db: Database, task_ids: list[int], error: str) -> None:
    with db.transaction() as cur:
        for task_id in task_ids:
            mark_failed(cur, task_id, 0, error, utcnow())
