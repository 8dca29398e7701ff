"""Task rows for start payloads: created exactly once, and checked before a crawl.

A payload taken from ``start_urls`` carries a token (see :mod:`scraperq.queue.entries`).
Its task is inserted with that token in ``tasks.queue_token`` (unique), so when a
worker dies after creating the row but before queueing the request, the payload
comes back with the same token and the row is reused instead of a second one
being left ``pending`` for ever.

Plain SQL with ``%s`` placeholders: runs on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from scraperq.storage.connection import Cursor, utcnow
from scraperq.storage.tasks import FINAL_STATUSES, NewTask, insert_tasks, new_task_values

_CHUNK = 200


@dataclass(frozen=True)
class TaskState:
    spider: str
    status: str

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


def create_tasks_once(cur: Cursor, new: Sequence[tuple[str, NewTask]]) -> dict[str, int]:
    """Insert ``(token, task)`` pairs whose token is not taken yet; every token's task id."""
    ids: dict[str, int] = {}
    now = utcnow()
    for start in range(0, len(new), _CHUNK):
        chunk = new[start : start + _CHUNK]
        values = ", ".join(["(%s, %s, 'pending', 0, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
        params = [value for token, task in chunk for value in (*new_task_values(cur, task, now), token)]
        cur.execute(
            "INSERT INTO tasks (spider, url, status, attempts, priority, created_at, updated_at,"
            f" source, meta, job_id, queue_token) VALUES {values}"
            " ON CONFLICT (queue_token) DO NOTHING",
            params,
        )
        tokens = [token for token, _ in chunk]
        marks = ", ".join(["%s"] * len(tokens))
        rows = cur.execute(f"SELECT id, queue_token FROM tasks WHERE queue_token IN ({marks})", tokens).fetchall()
        ids.update({row["queue_token"]: int(row["id"]) for row in rows})
    return ids


def insert_pending(cur: Cursor, new: Sequence[NewTask]) -> list[int]:
    """Insert pending tasks, ids in input order: for batches of thousands (``scraperq enqueue``).

    On PostgreSQL one short statement over arrays (``unnest``): psycopg prepares
    it once, where a multi-row ``VALUES`` of thousands of placeholders is parsed
    again for every chunk. SQLite takes the multi-row insert of the storage layer.
    """
    if cur.dialect != "postgresql":
        return insert_tasks(cur, new)
    now = utcnow()
    rows = cur.execute(
        "INSERT INTO tasks (spider, url, status, attempts, priority, created_at, updated_at, source, meta, job_id)"
        " SELECT spider, url, 'pending', 0, priority, %s, %s, source, meta::jsonb, job_id"
        " FROM unnest(%s::text[], %s::text[], %s::int[], %s::text[], %s::text[], %s::text[])"
        " WITH ORDINALITY AS t (spider, url, priority, source, meta, job_id, n)"
        " ORDER BY n RETURNING id",
        [
            now,
            now,
            [t.spider for t in new],
            [t.url for t in new],
            [int(t.priority) for t in new],
            [t.source for t in new],
            [json.dumps(t.meta or {}) for t in new],
            [t.job_id for t in new],
        ],
    ).fetchall()
    # Ids are drawn in ORDER BY order; RETURNING promises no order, so sort them back.
    return sorted(int(r["id"]) for r in rows)


def copy_pending(cur: Cursor, urls: Sequence[str], *, spider: str, priority: int = 0, source: str = "cli") -> list[int]:
    """Insert a pending task per URL with PostgreSQL's COPY, ids in input order: for bulk submissions.

    The ids are drawn from the table's sequence first (one statement), then the rows go in
    as one COPY stream of text written at once, several times faster than an INSERT of the
    same rows. SQLite, which has no COPY, takes :func:`insert_pending`.
    """
    if cur.dialect != "postgresql":
        return insert_pending(cur, [NewTask(spider=spider, url=u, priority=priority, source=source) for u in urls])
    if not urls:
        return []
    rows = cur.execute(
        "SELECT nextval(pg_get_serial_sequence('tasks', 'id')) AS id FROM generate_series(1, %s)", [len(urls)]
    ).fetchall()
    ids = sorted(int(r["id"]) for r in rows)
    now = utcnow().isoformat()
    # Every column but id and url is the same for the whole chunk: written once.
    middle = f"\tpending\t0\t{int(priority)}\t{now}\t{now}\t{_copy_text(source)}\t{{}}\t\\N\n"
    head = _copy_text(spider)
    text = "".join(f"{task_id}\t{head}\t{_copy_text(url)}{middle}" for task_id, url in zip(ids, urls, strict=True))
    with cur.copy(
        "COPY tasks (id, spider, url, status, attempts, priority, created_at, updated_at, source, meta, job_id)"
        " FROM STDIN"
    ) as copy:
        copy.write(text)
    return ids


def _copy_text(value: str) -> str:
    """A value in COPY's text format: backslash, tab and line breaks escaped (URLs have none but the first)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def task_states(cur: Cursor, task_ids: Sequence[int]) -> dict[int, TaskState]:
    """Spider and status of the tasks that exist among ``task_ids``."""
    states: dict[int, TaskState] = {}
    unique = sorted(set(task_ids))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        marks = ", ".join(["%s"] * len(chunk))
        rows = cur.execute(f"SELECT id, spider, status FROM tasks WHERE id IN ({marks})", chunk).fetchall()
        states.update({int(r["id"]): TaskState(r["spider"], r["status"]) for r in rows})
    return states
