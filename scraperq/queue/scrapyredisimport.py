"""A stock scrapy-redis request queue, read without running its pickles, as shared-queue entries.

scrapy-redis keeps a spider's requests in ``<spider>:requests`` as pickles of
Scrapy's request dicts (``Request.to_dict``): a sorted set scored ``-priority``
(its default ``PriorityQueue``) or a list (``FifoQueue``: pushed left, popped right;
``LifoQueue``: popped left). Unpickling runs whatever a pickle names, so
:class:`PlainDataUnpickler` resolves no name at all: only what pickle builds
from its own opcodes gets through, and of that only plain data (dict, list,
tuple, str, bytes, int, float, bool, None). Anything else is refused with a
reason, never called.

A request dict that passes becomes a JSON entry body in the form
:mod:`scraperq.queue.serialize` writes, for a task of its own: the same checks as
any start URL (scheme, blocked addresses), payload meta rules (no proxy, no
size-cap or robots.txt bypass), and request classes from Scrapy only.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from scraperq.errors import BadInput
from scraperq.payload_meta import check_spider_meta
from scraperq.payloads import AllowPrivate, check_start_url
from scraperq.queue.serialize import LOCAL_META_KEYS

PLAIN = (dict, list, tuple, str, bytes, int, float, bool, type(None))
# Request classes an imported entry may name: Scrapy's own (a project's classes are code we would import).
SCRAPY_REQUEST_CLASSES = frozenset(
    {
        "scrapy.http.request.Request",
        "scrapy.http.request.form.FormRequest",
        "scrapy.http.request.json_request.JsonRequest",
        "scrapy.http.request.rpc.XmlRpcRequest",
    }
)
# Retry bookkeeping starts again in scraperq (its own backoff retries).
DROPPED_META = frozenset({"retry_times", "max_retry_times", "not_before", "_job"}) | LOCAL_META_KEYS
ATTRIBUTES = ("method", "encoding", "priority", "dont_filter", "flags", "cb_kwargs", "cookies", "callback", "errback")


class NotPlainData(pickle.UnpicklingError):
    """The pickle names something to look up or call."""


class PlainDataUnpickler(pickle.Unpickler):
    """Loads a pickle only if it needs no name: no class, no function, nothing to call.

    Bytes need pickle protocol 3 or later (older protocols spell them as a call);
    scrapy-redis writes the highest protocol.
    """

    def find_class(self, module: str, name: str) -> Any:
        raise NotPlainData(f"it names {module}.{name}, and only plain data is read")

    def persistent_load(self, pid: Any) -> Any:
        raise NotPlainData("it refers to a persistent object, and only plain data is read")


def plain_loads(data: bytes) -> Any:
    """The plain data in ``data`` (BadInput, saying why, for anything else)."""
    try:
        value = PlainDataUnpickler(io.BytesIO(data)).load()
    except NotPlainData as exc:
        raise BadInput(f"not plain data: {exc}") from None
    except Exception as exc:  # truncated or garbled bytes: whatever the opcode reader trips on
        raise BadInput(f"not a pickle: {type(exc).__name__}: {exc}") from None
    for part in _walk(value):
        if not isinstance(part, PLAIN):
            raise BadInput(f"not plain data: it holds a {type(part).__name__}")
    return value


def _walk(value: Any) -> Iterator[Any]:
    stack = [value]
    while stack:
        item = stack.pop()
        yield item
        if type(item) is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
        elif type(item) in (list, tuple):
            stack.extend(item)


@dataclass(frozen=True)
class ImportedRequest:
    url: str
    priority: int
    meta: dict[str, Any]
    data: dict[str, Any]  # the entry body, task fields still to add

    def body(self, task_id: int) -> str:
        data = dict(self.data)
        data["meta"] = {**self.meta, "task_id": task_id, "task_root": True}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def imported_request(raw: bytes, *, allow: AllowPrivate) -> ImportedRequest:
    """One member of a scrapy-redis queue as an entry to import; BadInput says why not."""
    d = plain_loads(raw)
    if not isinstance(d, dict) or not isinstance(d.get("url"), str):
        raise BadInput("not a Scrapy request dict (no url)")
    url = check_start_url(d["url"], allow)
    cls = d.get("_class")
    if cls is not None and cls not in SCRAPY_REQUEST_CLASSES:
        raise BadInput(f"request class {_text(cls)!r} is not one of Scrapy's")
    meta = d.get("meta") or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) for k in meta):
        raise BadInput("request meta is not a dict of names")
    meta = {k: v for k, v in meta.items() if k not in DROPPED_META}
    meta = check_spider_meta(meta)
    data: dict[str, Any] = {"url": url}
    for name in ATTRIBUTES:
        value = d.get(name)
        if value not in (None, "", [], {}, False, 0) and (name, value) not in (
            ("method", "GET"),
            ("encoding", "utf-8"),
        ):
            data[name] = value
    if cls is not None and cls != "scrapy.http.request.Request":
        data["_class"] = cls
    headers = d.get("headers") or {}
    if headers:
        if not isinstance(headers, dict):
            raise BadInput("request headers are not a dict")
        data["headers"] = {
            _text(k): [_text(v) for v in (vs if isinstance(vs, (list, tuple)) else [vs])] for k, vs in headers.items()
        }
    body = d.get("body") or b""
    if body:
        data["body_b64"] = base64.b64encode(body if isinstance(body, bytes) else str(body).encode()).decode("ascii")
    priority = d.get("priority") or 0
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise BadInput(f"request priority {priority!r} is not a whole number")
    try:
        json.dumps(data, allow_nan=False)
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"the request cannot be stored as JSON: {exc}") from None
    return ImportedRequest(url=url, priority=priority, meta=meta, data=data)
