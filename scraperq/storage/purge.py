"""Purging finished tasks and their results, optionally archiving them first.

A task is purged when its status is final (``completed`` or ``failed``) and it
finished before the cutoff; its results go with it. Pending and running tasks
are never touched, however old.

With an archive folder, every purged task and result is first written to two
JSON Lines files there (``tasks-<UTC time>.jsonl`` and ``results-<UTC time>.jsonl``,
every column of every row). Deleting starts only once both files are complete
and on disk, and deletes exactly the tasks that were archived, so a failed
archive deletes nothing and nothing is deleted unarchived.
"""

from __future__ import annotations

import logging
import os
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from scraperq.errors import BadInput
from scraperq.storage.connection import Database, utcnow
from scraperq.storage.export import atomic_text_file, to_json_line

logger = logging.getLogger(__name__)

_CHUNK = 500  # ids per IN (...) list and tasks per delete transaction
_PAGE = 1000  # rows per read


@dataclass
class PurgeReport:
    tasks: int = 0
    results: int = 0
    archive_files: list[Path] = field(default_factory=list)


def purgeable_task_ids(db: Database, cutoff: datetime) -> array[int]:
    """Ids of final tasks that finished before ``cutoff``, in id order."""
    ids: array[int] = array("q")
    last_id = 0
    while True:
        with db.transaction() as cur:
            rows = cur.execute(
                "SELECT id FROM tasks WHERE status IN ('completed', 'failed') AND finished_at < %s AND id > %s"
                " ORDER BY id LIMIT %s",
                (cutoff, last_id, _PAGE),
            ).fetchall()
        ids.extend(int(r["id"]) for r in rows)
        if len(rows) < _PAGE:
            return ids
        last_id = ids[-1]


def iter_task_rows(db: Database, ids: Sequence[int]) -> Iterator[dict[str, Any]]:
    """Every column of the given tasks, in id order."""
    for chunk in _chunks(ids):
        with db.transaction() as cur:
            rows = cur.execute(f"SELECT * FROM tasks WHERE id IN {_in_list(chunk)} ORDER BY id", chunk).fetchall()
        for row in rows:
            row["meta"] = db.json_value(row.get("meta"))
            yield row


def iter_result_rows(db: Database, task_ids: Sequence[int]) -> Iterator[dict[str, Any]]:
    """Every column of the given tasks' results, a page at a time."""
    for chunk in _chunks(task_ids):
        last_id = 0
        while True:
            with db.transaction() as cur:
                rows = cur.execute(
                    f"SELECT * FROM results WHERE task_id IN {_in_list(chunk)} AND id > %s ORDER BY id LIMIT %s",
                    [*chunk, last_id, _PAGE],
                ).fetchall()
            for row in rows:
                row["data"] = db.json_value(row["data"])
                yield row
            if len(rows) < _PAGE:
                break
            last_id = int(rows[-1]["id"])


def count_results_of_tasks(db: Database, task_ids: Sequence[int]) -> int:
    total = 0
    for chunk in _chunks(task_ids):
        with db.transaction() as cur:
            row = cur.execute(f"SELECT COUNT(*) AS n FROM results WHERE task_id IN {_in_list(chunk)}", chunk).fetchone()
        total += int(row["n"]) if row else 0
    return total


def delete_tasks(db: Database, ids: Sequence[int]) -> tuple[int, int]:
    """Delete final tasks and their results, a chunk per transaction; (tasks, results) deleted."""
    tasks = results = 0
    for chunk in _chunks(ids):
        with db.transaction() as cur:
            in_list = _in_list(chunk)
            results += cur.execute(f"DELETE FROM results WHERE task_id IN {in_list}", chunk).rowcount
            tasks += cur.execute(
                f"DELETE FROM tasks WHERE id IN {in_list} AND status IN ('completed', 'failed')", chunk
            ).rowcount
    return tasks, results


def purge_finished(db: Database, cutoff: datetime, *, archive_dir: str | os.PathLike[str] | None = None) -> PurgeReport:
    """Archive (optionally) then delete final tasks finished before ``cutoff`` and their results."""
    ids = purgeable_task_ids(db, cutoff)
    report = PurgeReport()
    if not ids:
        return report
    if archive_dir is not None:
        report.archive_files = archive(db, ids, Path(archive_dir))
    report.tasks, report.results = delete_tasks(db, ids)
    logger.info("Purged %d tasks and %d results finished before %s", report.tasks, report.results, cutoff)
    return report


def archive(db: Database, ids: Sequence[int], folder: Path) -> list[Path]:
    """Write the tasks and their results to two new JSON Lines files in ``folder``."""
    tasks_file, results_file = _archive_names(folder)
    written: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for target, rows in ((tasks_file, iter_task_rows(db, ids)), (results_file, iter_result_rows(db, ids))):
            with atomic_text_file(target, overwrite=False) as out:
                for row in rows:
                    out.write(to_json_line(row))
            written.append(target)
    except BaseException as exc:
        for path in written:  # half an archive is no archive
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise BadInput(f"cannot write the archive to {folder}: {exc.strerror or exc}") from None
        raise
    return written


def _archive_names(folder: Path) -> tuple[Path, Path]:
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    suffix, n = "", 1
    while (folder / f"tasks-{stamp}{suffix}.jsonl").exists() or (folder / f"results-{stamp}{suffix}.jsonl").exists():
        n += 1
        suffix = f"-{n}"
    return folder / f"tasks-{stamp}{suffix}.jsonl", folder / f"results-{stamp}{suffix}.jsonl"


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield [int(i) for i in ids[start : start + _CHUNK]]


def _in_list(chunk: Sequence[int]) -> str:
    """``(%s, %s, ...)``: placeholders only; the ids travel as parameters."""
    return "(" + ", ".join(["%s"] * len(chunk)) + ")"
