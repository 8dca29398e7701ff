"""Start payloads: what ``NAME:start_urls`` holds, checked the same way everywhere.

A payload is a bare URL or a JSON object ``{"url": ..., "task_id"?: ..., "priority"?:
..., "meta"?: {...}}`` (DESIGN.md). Workers parse what they take from Redis with
:func:`parse_payload`; ``scraperq enqueue`` and the scheduler's HTTP API check
URLs with :func:`check_start_url` and write payloads with :func:`payload_json`,
so a URL they accept is one a worker accepts.

Refused, with a one-line reason (:class:`~scraperq.errors.BadInput`): text that is
neither JSON nor a URL, JSON without ``url``, unknown fields, a scheme other than
http/https, an address ``SCRAPERQ_ALLOW_PRIVATE`` blocks (loopback, private,
link-local... written as an IP address or ``localhost``; names that resolve to
such addresses are refused by the SSRF guard when fetched), and a payload larger
than ``SCRAPERQ_MAX_PAYLOAD_BYTES``.

:func:`enqueue_urls` is the one way URLs are submitted (``scraperq enqueue``, the
HTTP API): a ``tasks`` row per URL, then a JSON payload with its ``task_id``
pushed to ``NAME:start_urls``, in chunks, each chunk one multi-row insert and
one ``LPUSH``.

No Scrapy or Twisted here: the scheduler daemon imports this module.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import redis

from scraperq.addresses import AllowPrivate, address_problem, parse_allow_private  # noqa: F401 - re-exported
from scraperq.errors import BadInput, StorageUnavailable
from scraperq.queue.defaults import START_URLS_KEY
from scraperq.queue.taskrows import insert_pending
from scraperq.storage.connection import utcnow
from scraperq.storage.tasks import NewTask, mark_failed
from scraperq.urls import validate_url

if TYPE_CHECKING:
    from scraperq.storage import Database

DEFAULT_MAX_PAYLOAD_BYTES = 65536
MAX_PRIORITY = 1_000_000
FIELDS = ("url", "task_id", "priority", "meta")
# Meta keys scraperq sets itself on a start request.
RESERVED_META = ("task_id", "task_root")
# Meta keys anyone who can push to Redis must not set: each would step around a safety
# default (the SSRF guard checks the target, not a proxy; robots.txt; the size cap;
# retries' bookkeeping) or make the worker import and run code by name.
UNSAFE_META = frozenset(
    {
        "proxy",
        "_auth_proxy",
        "bindaddress",
        "download_maxsize",
        "download_warnsize",
        "dont_obey_robotstxt",
        "dont_filter",
        "retry_times",
        "max_retry_times",
        "not_before",
        "cookiejar",
        "_job",
    }
)
# scrapy-playwright reads these as page/context options, callbacks by import path, or
# page methods run in the browser; a payload may only ask for rendering itself.
SAFE_PLAYWRIGHT_META = frozenset({"playwright"})


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
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        ip: Any = ipaddress.ip_address("127.0.0.1")  # RFC 6761: always loopback
    else:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return None  # a name: the SSRF guard checks what it resolves to
    problem = address_problem(ip)
    if problem is None or (allow and any(ip in net for net in allow)):
        return None
    return f"blocked: {host} is {problem}"


def check_start_url(raw: object, allow: AllowPrivate) -> str:
    """The URL, stripped, or BadInput: not a URL, a scheme we do not fetch, a blocked address."""
    url = validate_url(raw)
    problem = blocked_reason(url, allow)
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
    """One payload from ``start_urls``, checked; BadInput says what is wrong with it."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise BadInput(f"payload of {size} bytes is larger than the limit of {max_bytes} (SCRAPERQ_MAX_PAYLOAD_BYTES)")
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput("payload is not UTF-8 text") from None
    else:
        text = raw
    text = text.strip()
    if not text:
        raise BadInput("empty payload")
    if text[0] not in '{["':
        if "://" not in text:
            raise BadInput(f"payload is neither JSON nor a URL: {_shown(text)}")
        return StartPayload(url=check_start_url(text, allow))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"payload is not valid JSON ({exc.msg} at character {exc.pos}): {_shown(text)}") from None
    if isinstance(data, str):
        return StartPayload(url=check_start_url(data, allow))
    if not isinstance(data, dict):
        raise BadInput(f"payload is JSON but not an object with a url: {_shown(text)}")
    return _from_object(data, allow)


def _from_object(data: dict[str, Any], allow: AllowPrivate) -> StartPayload:
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise BadInput(f"payload has unknown field {unknown[0]!r}: use {', '.join(FIELDS)}")
    if "url" not in data:
        raise BadInput("payload has no url")
    url = check_start_url(data["url"], allow)
    task_id = data.get("task_id")
    if task_id is not None and (not _is_int(task_id) or task_id < 1):
        raise BadInput(f"payload task_id {task_id!r} is not a positive whole number")
    priority = data.get("priority", 0)
    if priority is None:
        priority = 0
    if not _is_int(priority) or abs(priority) > MAX_PRIORITY:
        raise BadInput(f"payload priority {priority!r} is not a whole number from -{MAX_PRIORITY} to {MAX_PRIORITY}")
    meta = data.get("meta") or {}
    if not isinstance(meta, dict):
        raise BadInput("payload meta is not a JSON object")
    reserved = [key for key in RESERVED_META if key in meta]
    if reserved:
        raise BadInput(f"payload meta may not set {reserved[0]!r} (scraperq sets it)")
    unsafe = sorted(
        key for key in meta if key in UNSAFE_META or (key.startswith("playwright_") and key not in SAFE_PLAYWRIGHT_META)
    )
    if unsafe:
        raise BadInput(f"payload meta may not set {unsafe[0]!r}: it would bypass a safety setting")
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


# -- submitting --------------------------------------------------------------------------

ENQUEUE_CHUNK = 5000


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
) -> list[int]:
    """Create a pending task per (already checked) URL and queue it; the task ids, in order.

    ``client`` is a ``redis.Redis``. Should Redis fail half-way, the tasks of the
    chunk that could not be queued are marked failed (saying so) and
    :class:`~scraperq.errors.StorageUnavailable` tells how many were queued.
    """
    key = key or start_urls_key(spider)
    ids: list[int] = []
    for start in range(0, len(urls), max(1, chunk)):
        part = urls[start : start + chunk]
        with db.transaction() as cur:
            new = insert_pending(cur, [NewTask(spider=spider, url=u, priority=priority, source=source) for u in part])
        payloads = [payload_json(u, task_id=t, priority=priority) for u, t in zip(part, new, strict=True)]
        try:
            client.lpush(key, *payloads)
        except redis.RedisError as exc:  # the tasks must not stay pending for ever
            mark_unqueued(db, new, f"could not be queued: {type(exc).__name__}: {exc}")
            raise StorageUnavailable(
                f"Redis refused the URLs after {len(ids)} of {len(urls)} were queued: {exc}"
            ) from None
        ids.extend(new)
    return ids


def mark_unqueued(db: Database, task_ids: list[int], error: str) -> None:
    with db.transaction() as cur:
        for task_id in task_ids:
            mark_failed(cur, task_id, 0, error, utcnow())
