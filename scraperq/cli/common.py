"""What the sub-commands share: settings, the database, output helpers, parsers.

Parsers raise :class:`~scraperq.errors.BadInput` with a one-line message, which
``scraperq`` prints as ``scraperq: error: ...`` with exit status 2.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from scraperq.config import check_environment
from scraperq.errors import BadInput
from scraperq.storage import Database, database_url, open_database
from scraperq.storage.connection import utcnow
from scraperq.storage.export import atomic_text_file, json_default


def project_settings() -> Any:
    from scrapy.utils.project import get_project_settings

    settings = get_project_settings()
    check_environment(settings)
    return settings


def open_db(*, migrate_schema: bool = True) -> Database:
    return open_database(database_url(project_settings()), migrate_schema=migrate_schema)


# -- parsing arguments -------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w|wk|weeks?)?\s*$", re.I)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '6h', '7d', '2w' or plain seconds."""
    match = _DURATION.match(text or "")
    if not match:
        raise BadInput(f"invalid duration {text!r}: use a number with s, m, h, d or w, like 6h")
    unit = (match.group(2) or "s")[0].lower()
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[unit])


def parse_when(text: str) -> datetime:
    """An ISO date/time (UTC unless it says otherwise) or a duration ago ('24h')."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            return utcnow() - parse_duration(text)
        except BadInput:
            raise BadInput(
                f"invalid time {text!r}: use an ISO date/time like 2024-05-01T12:00:00 or a duration ago like 24h"
            ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def parse_positive_int(name: str, text: str) -> int:
    """A whole number >= 0 (the name says what it is, for the error message)."""
    try:
        value = int(text)
    except ValueError:
        raise BadInput(f"{name} {text!r} is not a whole number") from None
    if value < 0:
        raise BadInput(f"{name} must not be negative")
    return value


def parse_id(name: str, text: str) -> int:
    """A database id: a whole number >= 1."""
    value = parse_positive_int(name, text)
    if value < 1:
        raise BadInput(f"{name} must be 1 or more")
    return value


# -- output ------------------------------------------------------------------------


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, default=json_default, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def format_time(value: datetime | None) -> str:
    if value is None:
        return "-"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 3)] + "..."


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, max_widths: dict[str, int] | None = None
) -> str:
    """Columns padded to their widest cell; cells longer than ``max_widths[header]`` shortened."""
    limits = max_widths or {}

    def cell(header: str, value: Any) -> str:
        text = " ".join(str("-" if value is None else value).split())  # one line per row
        return shorten(text, limits[header]) if header in limits else text

    cells = [[cell(h, v) for h, v in zip(headers, row, strict=True)] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = [[h.upper() for h in headers], *cells]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


@contextmanager
def output_file(path: str | None) -> Iterator[IO[str]]:
    """Standard output for None or '-', else ``path``, written whole or not at all."""
    if path in (None, "-"):
        yield sys.stdout
        return
    try:
        with atomic_text_file(path) as out:
            yield out
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror or exc}") from None
