"""The ``tasks`` table: one row per submitted URL and its lifecycle.

pending -> running -> completed | failed. A final status is written once: the
updates below only touch rows that are not final yet, so a re-delivered request
cannot flip a finished task back or count it twice.

A task covers its whole crawl: its own page and every page it led to. Each page's
outcome adds to ``pages_fetched`` or ``pages_failed`` (the first few followed pages
that failed are kept in ``page_errors``); the task's own page being parsed sets
``parsed_at``; the task ends when its last page is settled (:func:`mark_drained`):
``completed`` if its own page was parsed, ``failed`` otherwise. A failure of its
own page fails it at once.
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
    " started_at, finished_at, item_count, invalid_items, invalid_reason, source, meta, job_id,"
    " pages_fetched, pages_failed, page_errors, parsed_at, requeues"
)
# Followed pages whose error a task keeps (the counts cover all of them).
MAX_PAGE_ERRORS = 5


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
    """Fail a task not ended yet; ``attempts`` 0 keeps the count it has (a failure found, not fetched)."""
    cur.execute(
        "UPDATE tasks SET status = 'failed', attempts = CASE WHEN %s > 0 THEN %s ELSE attempts END,"
        " error = %s, updated_at = %s, started_at = COALESCE(started_at, %s), finished_at = %s"
        " WHERE id = %s AND status NOT IN ('completed', 'failed')",
        (attempts, attempts, error, at, at, at, task_id),
    )
    return cur.rowcount > 0


def mark_parsed(cur: Cursor, task_id: int, attempts: int, at: datetime) -> None:
    """The task's own page was fetched and parsed; the task completes once its other pages are settled."""
    cur.execute(
        "UPDATE tasks SET status = 'running', attempts = %s, updated_at = %s,"
        " started_at = COALESCE(started_at, %s), parsed_at = COALESCE(parsed_at, %s)"
        " WHERE id = %s AND status NOT IN ('completed', 'failed')",
        (attempts, at, at, at, task_id),
    )


def add_page_outcomes(
    cur: Cursor, task_id: int, fetched: int, failed: int, errors: Sequence[tuple[str, str]], at: datetime
) -> None:
    """Count pages of a task that were settled, and keep the first few followed-page errors."""
    cur.execute(
        "UPDATE tasks SET pages_fetched = pages_fetched + %s, pages_failed = pages_failed + %s, updated_at = %s"
        " WHERE id = %s AND status NOT IN ('completed', 'failed')",
        (fetched, failed, at, task_id),
    )
    if not errors or cur.rowcount == 0:
        return
    lock = " FOR UPDATE" if cur.dialect == "postgresql" else ""  # workers append to one row
    row = cur.execute(f"SELECT page_errors FROM tasks WHERE id = %s{lock}", (task_id,)).fetchone()
    kept = list(cur.db.json_value(row["page_errors"]) or []) if row else []
    if len(kept) >= MAX_PAGE_ERRORS:
        return
    kept.extend({"url": url, "error": error} for url, error in errors[: MAX_PAGE_ERRORS - len(kept)])
    cur.execute("UPDATE tasks SET page_errors = %s WHERE id = %s", (cur.db.json_param(kept), task_id))


def mark_drained(cur: Cursor, task_id: int, at: datetime, reason: str) -> str | None:
    """Every page of the task is settled: end it. ``completed`` if its own page was parsed,
    else ``failed`` with its error or ``reason``; None when it had ended already."""
    row = cur.execute(
        "UPDATE tasks SET status = CASE WHEN parsed_at IS NOT NULL THEN 'completed' ELSE 'failed' END,"
        " error = CASE WHEN parsed_at IS NOT NULL THEN NULL ELSE COALESCE(error, %s) END,"
        " updated_at = %s, started_at = COALESCE(started_at, %s), finished_at = %s"
        " WHERE id = %s AND status NOT IN ('completed', 'failed') RETURNING status",
        (reason, at, at, at, task_id),
    ).fetchone()
    return None if row is None else str(row["status"])


def unended_tasks(cur: Cursor, spider: str, updated_before: datetime, limit: int = 500) -> list[dict[str, Any]]:
    """Tasks of ``spider`` not ended whose last change is older than ``updated_before``, oldest first."""
    rows = cur.execute(
        f"SELECT {_COLUMNS} FROM tasks WHERE spider = %s AND status IN ('pending', 'running')"
        " AND updated_at < %s ORDER BY updated_at LIMIT %s",
        (spider, updated_before, max(1, int(limit))),
    ).fetchall()
    return [_decode(cur.db, r) for r in rows]


def mark_requeued(cur: Cursor, task_id: int, requeues: int, updated_before: datetime, at: datetime) -> bool:
    """Put a lost task back to pending, unless it changed since it was found lost (another sweeper
    or its worker got there first): True for the one caller that should queue it again."""
    cur.execute(
        "UPDATE tasks SET status = 'pending', requeues = requeues + 1, updated_at = %s"
        " WHERE id = %s AND requeues = %s AND updated_at < %s AND status NOT IN ('completed', 'failed')",
        (at, task_id, requeues, updated_before),
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
    if "page_errors" in row:
        row["page_errors"] = db.json_value(row.get("page_errors")) or []
    return row
