"""Writing, verifying, listing and restoring the archive of one day and spider.

:func:`write_day` writes ``DAY/SPIDER.jsonl.gz`` and then its manifest, reads the
object back and checks its checksum and row counts against the manifest; only
then does the caller delete the day. If the day was archived before (an earlier
run stopped between archiving and deleting, or a task finished late), the new
object holds the old one's rows plus the new ones, each once (by id), so an
interrupted run that starts again loses nothing and doubles nothing.

:func:`restore_day` puts a day's rows back (``INSERT ... ON CONFLICT DO
NOTHING`` on the rows' own ids): restoring twice changes nothing the second time.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from scraperq.archive.stores import ArchiveStore, ArchiveUnavailable
from scraperq.storage import partitions
from scraperq.storage.connection import Cursor, Database, utcnow
from scraperq.storage.export import to_json_line
from scraperq.storage.purge import Cutoffs, iter_day_results, iter_day_tasks

logger = logging.getLogger(__name__)

FORMAT = 1
_TABLES = ("tasks", "results")
_JSON_COLUMNS = {"tasks": ("meta",), "results": ("data",)}
_INSERT_CHUNK = 200


def _keys(day: date, spider: str) -> tuple[str, str]:
    name = spider.replace("/", "_")
    return f"{day.isoformat()}/{name}.jsonl.gz", f"{day.isoformat()}/{name}.manifest.json"


@dataclass
class ArchivedDay:
    day: date
    spider: str
    results: int = 0
    tasks: int = 0
    bytes: int = 0
    sha256: str = ""
    key: str = ""
    # The rows read from the database for this archive: exactly these may now be deleted.
    result_ids: array[int] = field(default_factory=lambda: array("q"))
    task_ids: array[int] = field(default_factory=lambda: array("q"))


def write_day(db: Database, store: ArchiveStore, day: date, spider: str, cutoffs: Cutoffs) -> ArchivedDay:
    """Archive the rows of ``day`` and ``spider`` that may go, merged with any earlier archive of it; verified."""
    data_key, manifest_key = _keys(day, spider)
    done = ArchivedDay(day, spider, key=data_key)
    earlier = _read_lines(store, data_key, manifest_key)
    seen: dict[str, set[int]] = {table: set() for table in _TABLES}
    buffer = io.BytesIO()
    counts = dict.fromkeys(_TABLES, 0)
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as out:
        for table, rows, ids in (
            ("tasks", iter_day_tasks(db, day, spider, cutoffs), done.task_ids),
            ("results", iter_day_results(db, day, spider, cutoffs), done.result_ids),
        ):
            for line, row_id in earlier.get(table, ()):
                seen[table].add(row_id)
                out.write(line)
                counts[table] += 1
            for row in rows:
                ids.append(int(row["id"]))
                if int(row["id"]) in seen[table]:
                    continue
                out.write(to_json_line({"table": table, "row": row}).encode())
                counts[table] += 1
    payload = buffer.getvalue()
    done.results, done.tasks, done.bytes = counts["results"], counts["tasks"], len(payload)
    done.sha256 = hashlib.sha256(payload).hexdigest()
    manifest = {
        "format": FORMAT,
        "day": day.isoformat(),
        "spider": spider,
        "object": data_key.rsplit("/", 1)[1],
        "results": done.results,
        "tasks": done.tasks,
        "bytes": done.bytes,
        "sha256": done.sha256,
        "written_at": utcnow().isoformat(),
    }
    store.put(data_key, payload)
    store.put(manifest_key, json.dumps(manifest, indent=1).encode() + b"\n")
    verify(store, day, spider)
    return done


def verify(store: ArchiveStore, day: date, spider: str) -> dict[str, Any]:
    """Read the archive back: its object must match its manifest's checksum and row counts."""
    data_key, manifest_key = _keys(day, spider)
    manifest = _manifest(store, manifest_key)
    payload = store.get(data_key)
    if manifest is None or payload is None:
        raise ArchiveUnavailable(f"the archive of {day} ({spider}) at {store.url} is not there after writing it")
    if hashlib.sha256(payload).hexdigest() != manifest["sha256"]:
        raise ArchiveUnavailable(f"the archive of {day} ({spider}) at {store.url} does not match its checksum")
    counts = dict.fromkeys(_TABLES, 0)
    for table, _line, _row in _lines(payload, data_key):
        counts[table] += 1
    if counts["results"] != manifest["results"] or counts["tasks"] != manifest["tasks"]:
        raise ArchiveUnavailable(f"the archive of {day} ({spider}) at {store.url} does not hold the rows it lists")
    return manifest


def _manifest(store: ArchiveStore, key: str) -> dict[str, Any] | None:
    raw = store.get(key)
    if raw is None:
        return None
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise ArchiveUnavailable(f"the manifest {key} at {store.url} is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveUnavailable(f"the manifest {key} at {store.url} is not one this version reads")
    return manifest


def _lines(payload: bytes, key: str) -> Iterator[tuple[str, bytes, dict[str, Any]]]:
    try:
        text = gzip.decompress(payload)
    except (OSError, EOFError) as exc:  # gzip's own CRC: a damaged object is refused, never trusted
        raise ArchiveUnavailable(f"the archive object {key} is damaged: {exc}") from None
    for line in text.splitlines(keepends=True):
        if not line.strip():
            continue
        record = json.loads(line)
        if record.get("table") not in _TABLES:
            raise ArchiveUnavailable(f"the archive object {key} holds a line of no known table")
        yield record["table"], line, record["row"]


def _read_lines(store: ArchiveStore, data_key: str, manifest_key: str) -> dict[str, list[tuple[bytes, int]]]:
    """The lines of an earlier archive of the day, by table (none if there is none).

    An object without a manifest, or whose manifest does not match it, is still read if gzip finds it
    whole: objects are written whole or not at all and before their manifest, so it is the newer one.
    """
    payload = store.get(data_key)
    if payload is None:
        return {}
    found: dict[str, list[tuple[bytes, int]]] = {table: [] for table in _TABLES}
    for table, line, row in _lines(payload, data_key):
        found[table].append((line, int(row["id"])))
    return found


# -- listing and restoring ------------------------------------------------------------------


def list_days(store: ArchiveStore, day: date | None = None) -> list[dict[str, Any]]:
    """The manifests in the archive (of one day), by day then spider."""
    prefix = f"{day.isoformat()}/" if day else ""
    found = []
    for key in store.keys(prefix):
        if key.endswith(".manifest.json"):
            manifest = _manifest(store, key)
            if manifest is not None:
                found.append(manifest)
    return sorted(found, key=lambda m: (m["day"], m["spider"]))


@dataclass
class Restored:
    day: date
    spider: str
    tasks: int = 0
    results: int = 0


def restore_day(db: Database, store: ArchiveStore, day: date, spider: str | None = None) -> list[Restored]:
    """Put the archived rows of ``day`` (of one spider) back; rows already there are left as they are."""
    restored = []
    for manifest in list_days(store, day):
        if spider is not None and manifest["spider"] != spider:
            continue
        verify(store, day, manifest["spider"])
        data_key, _ = _keys(day, manifest["spider"])
        payload = store.get(data_key)
        assert payload is not None
        done = Restored(day, manifest["spider"])
        rows: dict[str, list[dict[str, Any]]] = {table: [] for table in _TABLES}
        for table, _line, row in _lines(payload, data_key):
            rows[table].append(row)
        with db.transaction() as cur:
            if partitions.is_partitioned(cur):
                partitions.ensure_days(cur, {day})
            done.tasks = _insert(cur, "tasks", rows["tasks"])
            done.results = _insert(cur, "results", rows["results"])
        restored.append(done)
    return restored


def _columns(cur: Cursor, table: str) -> list[str]:
    if cur.dialect == "postgresql":
        rows = cur.execute(
            "SELECT column_name AS name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s",
            (table,),
        ).fetchall()
    else:
        rows = cur.execute(f"SELECT name FROM pragma_table_info('{table}')").fetchall()
    return [str(r["name"]) for r in rows]


def _insert(cur: Cursor, table: str, rows: Iterable[dict[str, Any]]) -> int:
    """Insert rows with their own ids; those already there stay. How many were new."""
    rows = list(rows)
    if not rows:
        return 0
    have = set(_columns(cur, table))
    columns = [c for c in rows[0] if c in have]
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT DO NOTHING RETURNING id"
    new = 0
    for row in rows:
        values = []
        for column in columns:
            value = row.get(column)
            if column in _JSON_COLUMNS[table] and value is not None:
                value = cur.db.json_param(value)
            elif column.endswith("_at") and isinstance(value, str):
                value = datetime.fromisoformat(value)
            values.append(value)
        if cur.execute(sql, values).fetchone() is not None:
            new += 1
    return new
