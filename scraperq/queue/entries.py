"""Queue entries: what one member of ``NAME:requests`` (or a held hash) holds.

An entry is one string, ``ID|DELIVERIES|PRIORITY|TASK|KIND|BODY``:

* ``ID``: 12 hex digits from ``NAME:seq``. Redis orders equal scores of the
  requests zset by member, so a fixed-width sequence first means FIFO among them.
* ``DELIVERIES``: how many times a worker took it and vanished without finishing.
* ``PRIORITY``: the Scrapy priority (the zset score is its negative, plus the
  task's turn as a fraction: see :mod:`scraperq.queue.scripts`).
* ``TASK``: the ``tasks`` row it works for, or empty.
* ``KIND``: ``r`` for a request (BODY is its JSON, see :mod:`scraperq.queue.serialize`)
  or ``s`` for a start payload taken from ``start_urls`` (BODY is
  ``{"token": ..., "payload": ...}``; the token makes its task row exactly once).

The Lua scripts read the header with one pattern and never re-encode BODY.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

REQUEST = "r"
START = "s"


@dataclass(frozen=True)
class Entry:
    id: str
    deliveries: int
    priority: int
    task: int | None
    kind: str
    body: str

    @classmethod
    def parse(cls, member: bytes | str) -> Entry:
        # Bytes that are not UTF-8 (a start payload pushed as such) become lone surrogates rather
        # than U+FFFD, so the payload check sees them and dead-letters the payload.
        text = member.decode("utf-8", "surrogateescape") if isinstance(member, bytes) else member
        parts = text.split("|", 5)
        if len(parts) != 6:
            raise ValueError(f"not a queue entry: {text[:80]!r}")
        entry_id, deliveries, priority, task, kind, body = parts
        return cls(entry_id, int(deliveries), int(priority), int(task) if task else None, kind, body)

    @property
    def task_field(self) -> str:
        """The task as the scripts see it: digits, or empty for none."""
        return "" if self.task is None else str(self.task)

    def start_payload(self) -> tuple[str, str]:
        """``(token, raw payload)`` of a start entry."""
        data = json.loads(self.body)
        return str(data["token"]), str(data["payload"])
