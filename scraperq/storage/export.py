"""Stored rows as JSON Lines and CSV, the same way for every reader.

``scraperq results`` and ``scraperq purge --archive`` write through here (and
the HTTP API can), so a result looks the same wherever it is exported:

* JSON Lines: one object per result with :data:`RESULT_FIELDS` as keys, ``data``
  as nested JSON.
* CSV: the columns :data:`RESULT_FIELDS`, with ``data`` as one JSON text cell.
  Items of one spider can have different fields, and a stream cannot know
  them all before its first row, so the columns never depend on the data.

Timestamps are ISO 8601 in UTC on both databases.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

RESULT_FIELDS = ("id", "task_id", "spider", "url", "scraped_at", "data")


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def iso_utc(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def to_json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, default=json_default, ensure_ascii=False, separators=(",", ":")) + "\n"


def result_record(row: dict[str, Any]) -> dict[str, Any]:
    """The exported shape of a ``results`` row (``iter_results`` output)."""
    return {name: row[name] for name in RESULT_FIELDS}


class ResultCsvWriter:
    """CSV with a header and the fixed :data:`RESULT_FIELDS` columns."""

    def __init__(self, out: IO[str]) -> None:
        self._csv = csv.writer(out, lineterminator="\n")
        self._csv.writerow(RESULT_FIELDS)

    def write(self, row: dict[str, Any]) -> None:
        self._csv.writerow(
            [
                row["id"],
                row["task_id"],
                row["spider"],
                row["url"],
                iso_utc(row["scraped_at"]),
                json.dumps(row["data"], default=json_default, ensure_ascii=False, separators=(",", ":")),
            ]
        )


@contextmanager
def atomic_text_file(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[IO[str]]:
    """Write a file that appears complete or not at all.

    The text goes to a temporary file beside ``path``, renamed over it when the
    block ends; if the block raises, the temporary file is removed and ``path``
    is left as it was. Raises ``OSError`` if the folder cannot be written or,
    with ``overwrite=False``, if ``path`` exists.
    """
    target = Path(path)
    if not overwrite and target.exists():
        raise FileExistsError(0, "file exists", str(target))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        os.fchmod(fd, _default_file_mode())  # mkstemp makes it owner-only; a plain open() would not
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
