"""Requests as JSON for Redis: Scrapy's ``Request.to_dict`` form, callbacks by name.

The dict is what :meth:`scrapy.Request.to_dict` gives (every name in
``request.attributes``, ``_class`` for subclasses), made JSON-safe: headers as
text (Latin-1, byte for byte), the body base64-encoded, attributes at their
default left out to keep entries small. :func:`scrapy.utils.request.request_from_dict`
turns it back into a request of the same class, with callback and errback looked
up by name on the spider.

A request that cannot be written as JSON (a callback that is not a spider
method, non-JSON values in ``meta`` or ``cb_kwargs``) raises
:class:`UnserializableRequest` saying what is wrong; pickle is never used.
"""

from __future__ import annotations

import base64
import inspect
import json
from typing import Any

from scrapy import Request, Spider
from scrapy.utils.request import request_from_dict

from scraperq.queue.tracking import ENTRY_META, LEASE_META

# Meta keys that only mean something inside the process that set them.
LOCAL_META_KEYS = frozenset({ENTRY_META, "download_slot", LEASE_META})

_DEFAULTS: dict[str, Any] = {
    "method": "GET",
    "encoding": "utf-8",
    "priority": 0,
    "dont_filter": False,
    "flags": [],
    "cb_kwargs": {},
    "cookies": {},
    "meta": {},
    "errback": None,
    "callback": None,
}


class UnserializableRequest(ValueError):
    """The request cannot be stored as JSON; the message says which part."""


def request_to_json(request: Request, spider: Spider) -> str:
    data: dict[str, Any] = {"url": request.url}
    for attr in request.attributes:
        if attr in ("url", "headers", "body", "callback", "errback", "meta"):
            continue
        value = getattr(request, attr)
        if attr in _DEFAULTS and value == _DEFAULTS[attr]:
            continue
        data[attr] = value
    for attr in ("callback", "errback"):
        name = _method_name(spider, getattr(request, attr), attr)
        if name is not None:
            data[attr] = name
    if request.headers:
        data["headers"] = {
            key.decode("latin-1"): [v.decode("latin-1") for v in values] for key, values in request.headers.items()
        }
    if request.body:
        data["body_b64"] = base64.b64encode(request.body).decode("ascii")
    meta = {k: v for k, v in request.meta.items() if k not in LOCAL_META_KEYS}
    if meta:
        data["meta"] = meta
    if type(request) is not Request:  # noqa: E721 - subclasses are rebuilt by class path
        data["_class"] = f"{type(request).__module__}.{type(request).__name__}"
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UnserializableRequest(f"{_culprit(data)} cannot be stored as JSON: {exc}") from None


def request_from_json(text: str, spider: Spider) -> Request:
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        raise ValueError("not a serialized request")
    body = data.pop("body_b64", None)
    if body is not None:
        data["body"] = base64.b64decode(body)
    return request_from_dict(data, spider=spider)


def _method_name(spider: Spider, func: Any, what: str) -> str | None:
    """The name of the spider method ``func`` is; checked, as Scrapy's ``to_dict`` does."""
    if func is None or isinstance(func, str):
        return func
    name = getattr(func, "__name__", None)
    bound_to = getattr(func, "__self__", None)
    if name and bound_to is spider and getattr(getattr(spider, name, None), "__func__", None) is func.__func__:
        return name  # the fast path: a method of the spider under its own name
    target = getattr(func, "__func__", None)
    if target is not None:
        for member_name, member in inspect.getmembers(spider, predicate=inspect.ismethod):
            if member.__func__ is target:
                return member_name
    raise UnserializableRequest(f"the {what} {func!r} is not a method of the spider")


def _culprit(data: dict[str, Any]) -> str:
    for part in ("meta", "cb_kwargs", "cookies", "flags"):
        if part in data:
            try:
                json.dumps(data[part], allow_nan=False)
            except (TypeError, ValueError):
                if isinstance(data[part], dict):
                    for key, value in data[part].items():
                        try:
                            json.dumps(value, allow_nan=False)
                        except (TypeError, ValueError):
                            return f"{part}[{key!r}]"
                return part
    return "the request"
