"""Stored rows as JSON Lines and CSV, the same way for every reader.

``scraperq results`` and ``scraperq purge --archive`` write through here (and
the HTTP API can), so a result looks the same wherever it is exported:

* JSON Lines: one object per result with :data:`RESULT_FIELDS` as keys, ``data``
  (the item) as nested JSON.
* CSV: the result's own columns (:data:`CSV_RESULT_COLUMNS`), then one column per
  top-level field of the items, as Scrapy's ``CsvItemExporter`` writes them: the
  fields the spider's item class declares first, then every other field in the
  order it first appears (:func:`csv_columns` reads them from the database before
  the first row is written, so the export still streams). Text is written as it
  is, numbers and booleans as JSON, lists and objects as JSON text, a missing
  field as an empty cell. A text cell that starts with ``=``, ``+``, ``-``, ``@``
  or a tab would be read as a formula by spreadsheets: it gets a leading ``'``.

Timestamps are ISO 8601 in UTC on both databases.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

RESULT_FIELDS = ("id", "task_id", "job_id", "spider", "url", "scraped_at", "data")
# The result's own columns in CSV, named so they cannot be taken for an item's "id" or "url".
CSV_RESULT_COLUMNS = ("result_id", "task_id", "job_id", "spider", "result_url", "scraped_at")
_CSV_SOURCES = dict(zip(CSV_RESULT_COLUMNS, ("id", "task_id", "job_id", "spider", "url", "scraped_at"), strict=True))
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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


def csv_columns(item_fields: Iterable[str], declared: Sequence[str] = ()) -> list[str]:
    """The CSV header: the result's columns, the declared item fields, then the other item fields.

    An item field named like a result column is written as ``data.NAME``.
    """
    fields = list(dict.fromkeys([*declared, *item_fields]))
    return [*CSV_RESULT_COLUMNS, *(f"data.{f}" if f in _CSV_SOURCES else f for f in fields)]


class ResultCsvWriter:
    """CSV with a header of ``columns`` (:func:`csv_columns`) and one row per result."""

    def __init__(self, out: IO[str], columns: Sequence[str]) -> None:
        self._csv = csv.writer(out, lineterminator="\n")
        self._columns = list(columns)
        self._csv.writerow(self._columns)

    def write(self, row: dict[str, Any]) -> None:
        data = row["data"] if isinstance(row["data"], dict) else {"data": row["data"]}
        cells = []
        for column in self._columns:
            if column in _CSV_SOURCES:
                value = row.get(_CSV_SOURCES[column])
                cells.append(iso_utc(value) if isinstance(value, datetime) else _cell(value))
            else:
                cells.append(_cell(data.get(column.removeprefix("data.") if column.startswith("data.") else column)))
        self._csv.writerow(cells)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_START) else value
    return json.dumps(value, default=json_default, ensure_ascii=False, separators=(",", ":"))


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
    if target.exists() and not target.is_file():
        # A device, a FIFO or the like (``--output /dev/null``, ``/dev/stdout``): written to as it
        # is, since renaming a file over it would replace the device for every other program.
        with open(target, "w", encoding="utf-8", newline="") as out:
            yield out
        return
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
