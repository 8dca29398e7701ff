"""What the sub-commands share: settings, the database, output helpers, parsers."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from scraperq.errors import BadInput
from scraperq.storage import Database, database_url, open_database
from scraperq.storage.connection import utcnow


def project_settings() -> Any:
    from scrapy.utils.project import get_project_settings

    return get_project_settings()


def open_db(*, migrate_schema: bool = True) -> Database:
    return open_database(database_url(project_settings()), migrate_schema=migrate_schema)


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
        return utcnow() - parse_duration(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def parse_positive_int(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadInput(f"{name} {text!r} is not a whole number") from None
    if value < 0:
        raise BadInput(f"{name} must not be negative")
    return value


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, default=_json_default, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def format_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"
