"""Request and response helpers shared by the routes: JSON in, JSON out, errors as JSON.

Status codes, the same everywhere:

* 400: the request is malformed: not JSON, a missing or mistyped field, an
  unknown field, a query parameter that is not what it should be;
* 401: no token, or the wrong one;
* 404: no such route, task or schedule; 405: a route without that method;
* 409: a duplicate name, or a schedule whose previous run is still going;
* 413: a body larger than ``SCRAPERQ_API_MAX_BODY``; 415: a body that is not JSON;
* 422: well-formed, but a value is refused (an invalid URL, an unknown spider,
  a cron expression that never fires, an unknown time zone);
* 503: the database, Redis or every Scrapyd node cannot be reached.

Every error body is ``{"error": "<one line>", "status": <code>}``, with
``details`` (a list of ``{"field", "error"}``) when several values were refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from scraperq.errors import BadInput
from scraperq.redact import log_safe
from scraperq.storage.export import json_default
from scraperq.times import parse_when

# Ids are BIGINT: a larger number is refused here rather than by the database.
MAX_ID = 2**63 - 1


class ApiError(Exception):
    """An answer other than success, with its status code and a one-line message."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: list[dict[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


def json_response(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(value, default=json_default, ensure_ascii=False, separators=(",", ":"))
    return Response(body + "\n", status=status, headers=dict(headers or {}), mimetype="application/json")


def error_response(error: ApiError) -> Response:
    body: dict[str, Any] = {"error": error.message, "status": error.status}
    if error.details:
        body["details"] = error.details
    return json_response(body, error.status, error.headers)


# -- request bodies ------------------------------------------------------------------------


def read_json_object(request: Request, max_body: int) -> dict[str, Any]:
    """The body as a JSON object; 413, 415 or 400 when it cannot be one."""
    if request.content_length is not None and request.content_length > max_body:
        raise ApiError(413, f"request body of {request.content_length} bytes is larger than the limit of {max_body}")
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        shown = request.mimetype or "none"
        raise ApiError(415, f"send the body as JSON with Content-Type: application/json (got {shown})")
    request.max_content_length = max_body  # also bounds a chunked body, which has no Content-Length
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise ApiError(413, f"request body is larger than the limit of {max_body} bytes") from None
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise ApiError(400, "request body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:
        raise ApiError(400, f"request body is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # a number of more than 4,300 digits; NaN or Infinity
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "request body must be a JSON object")
    check_json_text(value)
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# Deeper bodies are refused: no request of this API needs more than three levels.
MAX_DEPTH = 32


def check_json_text(value: Any) -> None:
    """400 unless every string in ``value`` (keys too) can be stored and logged, and it is not too deep.

    NUL cannot be stored in PostgreSQL text, and a lone surrogate (``"\\ud800"``) cannot
    be encoded as UTF-8 at all: both are refused here, before any route sees them,
    wherever they are. Iterative, so depth costs no stack.
    """
    pending: list[tuple[Any, str, int]] = [(value, "body", 0)]
    while pending:
        item, where, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise ApiError(400, f"request body is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, str):
            _check_text(item, where)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, f"{where} (a key)")
                pending.append((child, f"{where}.{key}" if depth < 4 else where, depth + 1))
        elif isinstance(item, list):
            pending.extend((child, f"{where}[{i}]" if depth < 4 else where, depth + 1) for i, child in enumerate(item))


def unstorable(text: str) -> str | None:
    """What makes ``text`` impossible to store or log as it is (NUL, a lone surrogate), or None."""
    if "\x00" in text:
        return "a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "an unpaired surrogate character"
    return None


def _check_text(text: str, where: str) -> None:
    problem = unstorable(text)
    if problem is not None:
        raise ApiError(400, f"{log_safe(where, limit=80)} holds {problem}, which cannot be stored")


# C0 controls, DEL and C1 controls: what no path or query value of this API holds.
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_request_text(request: Request) -> None:
    """400 for a path or query string holding control characters: no route takes one, and they are
    what forges log lines (``%0A``) or cannot be stored (``%00``)."""
    path = request.path
    if CONTROLS.search(path):
        raise ApiError(400, f"the path {log_safe(path, limit=200)} holds control characters")
    for name, value in request.args.items(multi=True):
        if CONTROLS.search(name) or CONTROLS.search(value):
            shown = log_safe(f"{name}={value}", limit=200)
            raise ApiError(400, f"query parameter {shown} holds control characters")


def check_fields(body: Mapping[str, Any], allowed: Iterable[str], *, required: Iterable[str] = ()) -> None:
    allowed = tuple(allowed)
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0]!r}: use {', '.join(allowed)}")
    for name in required:
        if name not in body:
            raise ApiError(400, f"missing field {name!r}")


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def string_map(body: Mapping[str, Any], name: str) -> dict[str, str]:
    """A field holding an object of string values (spider arguments, settings)."""
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ApiError(400, f"{name!r} must be an object of string values")
    return dict(value)


# -- query parameters ----------------------------------------------------------------------


def query_choice(request: Request, name: str, choices: Iterable[str], default: str | None = None) -> str | None:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    choices = tuple(choices)
    if value not in choices:
        raise ApiError(400, f"query parameter {name}={value!r}: use one of {', '.join(choices)}")
    return value


def query_int(request: Request, name: str, *, default: int | None = None, low: int = 1, high: int = MAX_ID) -> Any:
    text = request.args.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"query parameter {name}={text!r} is not a whole number") from None
    if not low <= value <= high:
        bounds = f"from {low} to {high}" if high < MAX_ID else f"{low} or more"
        raise ApiError(400, f"query parameter {name}={text!r} must be {bounds}")
    return value


def query_text(request: Request, name: str) -> str | None:
    value = request.args.get(name)
    return value if value else None


def query_time(request: Request, name: str) -> datetime | None:
    """An ISO 8601 time (UTC unless it says otherwise) or a duration ago (``24h``), as ``scraperq results``."""
    text = request.args.get(name)
    if not text:
        return None
    try:
        return parse_when(text)
    except BadInput as exc:
        raise ApiError(400, f"query parameter {name}: {exc}") from None
