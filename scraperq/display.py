"""Output for people: tables, times and JSON, as every command prints them.

Neutral ground shared by the ``scraperq`` commands and the scheduler's own
commands (which do not import each other).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from scraperq.storage.export import json_default


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
