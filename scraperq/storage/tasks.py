"""The ``tasks`` table: one row per submitted URL and its lifecycle.

pending -> running -> completed | failed. A final status is written once: the
updates below only touch rows that are not final yet, so a re-delivered request
cannot flip a finished task back or count it twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scraperq.errors import BadInput, NotFound
from scraperq.storage.connection import Cursor, Database, utcnow

STATUSES = ("pending", "running", "completed", "failed")
FINAL_STATUSES = ("completed", "failed")

_INSERT_CHUNK = 500
_COLUMNS = (
    "id, spider, url, status, attempts, error, priority, created_at, updated_at,"
    " started_at, finished_at, item_count, invalid_items, invalid_reason, source, meta, job_id"
)


@dataclass
class NewTask:
    spider: str
    url: str
    priority: int = 0
    source: str = "cli"
    meta: dict[str, Any] = field(default_factory=dict)
    job_id: str | None = None


def create_tasks(db: Database, tasks: Sequence[NewTask]) -> list[int]:
    """Insert pending tasks in chunked multi-row statements; return their ids in order."""
    ids: list[int] = []
    with db.transaction() as cur:
        ids.extend(insert_tasks(cur, tasks))
    return ids


def insert_tasks(cur: Cursor, tasks: Sequence[NewTask]) -> list[int]:
    ids: list[int] = []
    now = utcnow()
    for start in range(0, len(tasks), _INSERT_CHUNK):
        chunk = tasks[start : start + _INSERT_CHUNK]
        values = ", ".join(["(%s, %s, 'pending', 0, %s, %s, %s, %s, %s, %s)"] * len(chunk))
        params = [value for task in chunk for value in new_task_values(cur, task, now)]
        rows = cur.execute(
            "INSERT INTO tasks (spider, url, status, attempts, priority, created_at, updated_at,"
            f" source, meta, job_id) VALUES {values} RETURNING id",
            params,
        ).fetchall()
        # Ids are drawn in VALUES order within one statement, but neither dialect
        # promises RETURNING order, so sort to map ids back to the input order.
        ids.extend(sorted(int(r["id"]) for r in rows))
    return ids


def new_task_values(cur: Cursor, task: NewTask, now: datetime) -> list[Any]:
    """A new task's values for ``INSERT INTO tasks (spider, url, status, attempts, priority,
    created_at, updated_at, source, meta, job_id)``, without the literal status and attempts."""
    return [
        task.spider,
        task.url,
        int(task.priority),
        now,
        now,
        task.source,
        cur.db.json_param(task.meta or {}),
        task.job_id,
    ]


def get_task(db: Database, task_id: int) -> dict[str, Any]:
    with db.transaction() as cur:
        row = cur.execute(f"SELECT {_COLUMNS} FROM tasks WHERE id = %s", (task_id,)).fetchone()
    if row is None:
        raise NotFound(f"no task with id {task_id}")
    return _decode(db, row)


def list_tasks(
    db: Database,
    *,
    status: str | None = None,
    spider: str | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first; ``before_id`` pages backwards."""
    if status is not None and status not in STATUSES:
        raise BadInput(f"unknown task status {status!r}: use one of {', '.join(STATUSES)}")
    where, params = [], []
    if status is not None:
        where.append("status = %s")
        params.append(status)
    if spider is not None:
        where.append("spider = %s")
        params.append(spider)
    if before_id is not None:
        where.append("id < %s")
        params.append(before_id)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    params.append(max(0, int(limit)))
    with db.transaction() as cur:
        rows = cur.execute(f"SELECT {_COLUMNS} FROM tasks {clause} ORDER BY id DESC LIMIT %s", params).fetchall()
    return [_decode(db, r) for r in rows]


def count_by_status(db: Database, *, spider: str | None = None) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    with db.transaction() as cur:
        if spider is None:
            rows = cur.execute("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status").fetchall()
        else:
            rows = cur.execute(
                "SELECT status, COUNT(*) AS n FROM tasks WHERE spider = %s GROUP BY status", (spider,)
            ).fetchall()
    for row in rows:
        counts[row["status"]] = int(row["n"])
    return counts


# -- lifecycle updates, applied by the batch writer inside its transaction --------


def mark_running(cur: Cursor, task_id: int, attempts: int, at: datetime) -> None:
    cur.execute(
        "UPDATE tasks SET status = 'running', attempts = %s, updated_at = %s,"
        " started_at = COALESCE(started_at, %s)"
        " WHERE id = %s AND status NOT IN ('completed', 'failed')",
        (attempts, at, at, task_id),
    )


def mark_completed(cur: Cursor, task_id: int, attempts: int, at: datetime) -> bool:
    cur.execute(
        "UPDATE tasks SET status = 'completed', attempts = %s, error = NULL, updated_at = %s,"
        " started_at = COALESCE(started_at, %s), finished_at = %s"
        " WHERE id = %s AND status NOT IN ('completed', 'failed')",
        (attempts, at, at, at, task_id),
    )
    return cur.rowcount > 0


def mark_failed(cur: Cursor, task_id: int, attempts: int, error: str, at: datetime) -> bool:
    cur.execute(
        "UPDATE tasks SET status = 'failed', attempts = %s, error = %s, updated_at = %s,"
        " started_at = COALESCE(started_at, %s), finished_at = %s"
        " WHERE id = %s AND status NOT IN ('completed', 'failed')",
        (attempts, error, at, at, at, task_id),
    )
    return cur.rowcount > 0


def add_item_counts(cur: Cursor, counts: Iterable[tuple[int, int]]) -> None:
    cur.executemany(
        "UPDATE tasks SET item_count = item_count + %s WHERE id = %s",
        [(n, task_id) for task_id, n in counts if n],
    )


def reset_to_pending(db: Database, task_ids: Sequence[int]) -> int:
    """Put non-final tasks back to pending (used when work is re-queued)."""
    if not task_ids:
        return 0
    with db.transaction() as cur:
        cur.executemany(
            "UPDATE tasks SET status = 'pending', updated_at = %s"
            " WHERE id = %s AND status NOT IN ('completed', 'failed')",
            [(utcnow(), t) for t in task_ids],
        )
    return len(task_ids)


def _decode(db: Database, row: dict[str, Any]) -> dict[str, Any]:
    row["meta"] = db.json_value(row.get("meta")) or {}
    return row
