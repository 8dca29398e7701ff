"""Durations and points in time as people write them: ``90s``, ``6h``, ``2w``, an ISO time, ``24h`` ago.

Neutral ground: the ``scraperq`` CLI, the scheduler's commands and its HTTP API
all read times with these functions, and none of them imports the others.
Errors are :class:`~scraperq.errors.BadInput` with a one-line message.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from scraperq.errors import BadInput
from scraperq.storage.connection import utcnow

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w|wk|weeks?)?\s*$", re.I)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '6h', '7d', '2w' or plain seconds."""
    match = _DURATION.match(text or "")
    if not match:
        raise BadInput(f"invalid duration {text!r}: use a number with s, m, h, d or w, like 6h")
    unit = (match.group(2) or "s")[0].lower()
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[unit])


def parse_when(text: str, *, now: datetime | None = None) -> datetime:
    """An ISO date/time (UTC unless it says otherwise) or a duration ago ('24h')."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            return (now or utcnow()) - parse_duration(text)
        except BadInput:
            raise BadInput(
                f"invalid time {text!r}: use an ISO date/time like 2024-05-01T12:00:00 or a duration ago like 24h"
            ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when
