"""The ``job_runs`` table: what became of each fire time, and each dispatched Scrapyd job.

One row per (schedule, fire time), made unique by ``job_runs_once_idx``: the
scheduler daemon inserts the row *before* it calls Scrapyd, so a second daemon,
a restart or a retry can never dispatch the same fire time twice.

Statuses:

* ``dispatching``: claimed; the Scrapyd job id is chosen but no node has
  confirmed it yet (a row left here by a dead daemon is resolved by asking the
  nodes for that job id);
* ``pending`` / ``running``: accepted by ``node`` as ``scrapyd_job_id``;
* ``finished`` / ``failed``: final, ``error`` says why it failed;
* ``skipped``: not run because the previous run was still pending or running;
* ``missed``: not run because no daemon ran in time (``error`` says which policy).

``origin`` is ``schedule`` for fire times and ``manual`` for ``scraperq schedule run``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scraperq.errors import NotFound
from scraperq.storage.connection import Cursor, Database, utcnow

ACTIVE_STATUSES = ("dispatching", "pending", "running")
FINAL_STATUSES = ("finished", "failed", "skipped", "missed")
STATUSES = ACTIVE_STATUSES + FINAL_STATUSES

_COLUMNS = (
    "id, schedule_id, spider, node, scrapyd_job_id, status, fire_time, dispatched_at, finished_at, error,"
    " origin, created_at, started_at, item_count, task_count, tasks_failed"
)


@dataclass
class JobRun:
    id: int
    schedule_id: int | None
    spider: str
    node: str | None
    scrapyd_job_id: str | None
    status: str
    fire_time: datetime | None
    dispatched_at: datetime | None
    finished_at: datetime | None
    error: str | None
    origin: str
    created_at: datetime | None
    started_at: datetime | None
    item_count: int
    task_count: int
    tasks_failed: int

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class JobCounts:
    items: int
    tasks: int
    tasks_failed: int


# -- recording fire times (inside the daemon's per-schedule transaction) -------------


def claim(
    cur: Cursor,
    *,
    schedule_id: int,
    spider: str,
    fire_time: datetime,
    job_id: str,
    origin: str = "schedule",
    now: datetime | None = None,
) -> int | None:
    """Insert a ``dispatching`` row; None when this fire time already has a row."""
    return _insert(cur, schedule_id, spider, fire_time, "dispatching", None, job_id, origin, now)


def record_outcome(
    cur: Cursor,
    *,
    schedule_id: int,
    spider: str,
    fire_time: datetime,
    status: str,
    error: str,
    now: datetime | None = None,
) -> bool:
    """Record a fire time that was not run (``skipped`` or ``missed``); False if already recorded."""
    assert status in ("skipped", "missed"), status
    return _insert(cur, schedule_id, spider, fire_time, status, error, None, "schedule", now) is not None


def _insert(
    cur: Cursor,
    schedule_id: int,
    spider: str,
    fire_time: datetime,
    status: str,
    error: str | None,
    job_id: str | None,
    origin: str,
    now: datetime | None,
) -> int | None:
    now = now or utcnow()
    final_at = now if status in FINAL_STATUSES else None
    row = cur.execute(
        "INSERT INTO job_runs (schedule_id, spider, scrapyd_job_id, status, fire_time, error, origin, created_at,"
        " finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (schedule_id, fire_time) DO NOTHING RETURNING id",
        (schedule_id, spider, job_id, status, fire_time, error, origin, now, final_at),
    ).fetchone()
    return None if row is None else int(row["id"])


def active_runs_of(cur: Cursor, schedule_id: int) -> list[JobRun]:
    rows = cur.execute(
        f"SELECT {_COLUMNS} FROM job_runs WHERE schedule_id = %s AND status IN (%s, %s, %s) ORDER BY id",
        (schedule_id, *ACTIVE_STATUSES),
    ).fetchall()
    return [_decode(r) for r in rows]


# -- following dispatched jobs --------------------------------------------------------


def get_run(db: Database, run_id: int) -> JobRun:
    with db.transaction() as cur:
        row = cur.execute(f"SELECT {_COLUMNS} FROM job_runs WHERE id = %s", (run_id,)).fetchone()
    if row is None:
        raise NotFound(f"no job run with id {run_id}")
    return _decode(row)


def runs_with_status(db: Database, statuses: Sequence[str], *, schedule_id: int | None = None) -> list[JobRun]:
    marks = ", ".join(["%s"] * len(statuses))
    params: list[Any] = list(statuses)
    where = f"status IN ({marks})"
    if schedule_id is not None:
        where += " AND schedule_id = %s"
        params.append(schedule_id)
    with db.transaction() as cur:
        rows = cur.execute(f"SELECT {_COLUMNS} FROM job_runs WHERE {where} ORDER BY id", params).fetchall()
    return [_decode(r) for r in rows]


def recent_runs(db: Database, *, schedule_id: int | None = None, limit: int = 20) -> list[JobRun]:
    """Newest first."""
    where, params = "", []
    if schedule_id is not None:
        where, params = "WHERE schedule_id = %s", [schedule_id]
    params.append(max(0, int(limit)))
    with db.transaction() as cur:
        rows = cur.execute(f"SELECT {_COLUMNS} FROM job_runs {where} ORDER BY id DESC LIMIT %s", params).fetchall()
    return [_decode(r) for r in rows]


def latest_runs(db: Database) -> dict[int, JobRun]:
    """Each schedule's most recent run, by schedule id (one query for any number of schedules)."""
    with db.transaction() as cur:
        rows = cur.execute(
            f"SELECT {', '.join('j.' + c.strip() for c in _COLUMNS.split(','))} FROM job_runs j"
            " JOIN (SELECT schedule_id, MAX(id) AS id FROM job_runs WHERE schedule_id IS NOT NULL"
            " GROUP BY schedule_id) latest ON j.id = latest.id"
        ).fetchall()
    return {int(r["schedule_id"]): _decode(r) for r in rows}


def mark_accepted(db: Database, run_id: int, *, node: str, status: str = "pending", at: datetime) -> None:
    """A node took the job. Only a row still being dispatched moves: a later state is never undone."""
    with db.transaction() as cur:
        cur.execute(
            "UPDATE job_runs SET status = %s, node = %s, dispatched_at = %s, error = NULL"
            " WHERE id = %s AND status = 'dispatching'",
            (status, node, at, run_id),
        )


def mark_running(db: Database, run_id: int, *, started_at: datetime | None) -> None:
    with db.transaction() as cur:
        cur.execute(
            "UPDATE job_runs SET status = 'running', started_at = COALESCE(started_at, %s)"
            " WHERE id = %s AND status = 'pending'",
            (started_at, run_id),
        )


def mark_final(
    db: Database,
    run_id: int,
    *,
    status: str,
    at: datetime,
    error: str | None = None,
    counts: JobCounts | None = None,
) -> bool:
    """Finish an active run (finished, failed or missed); False if it was already final."""
    assert status in FINAL_STATUSES, status
    counts = counts or JobCounts(0, 0, 0)
    with db.transaction() as cur:
        cur.execute(
            "UPDATE job_runs SET status = %s, finished_at = %s, error = %s,"
            " item_count = %s, task_count = %s, tasks_failed = %s"
            " WHERE id = %s AND status IN ('dispatching', 'pending', 'running')",
            (status, at, error, counts.items, counts.tasks, counts.tasks_failed, run_id),
        )
        return cur.rowcount > 0


def set_counts(db: Database, counts: dict[int, JobCounts]) -> None:
    """Refresh the counts of runs still in progress, so a long crawl shows its progress."""
    with db.transaction() as cur:
        cur.executemany(
            "UPDATE job_runs SET item_count = %s, task_count = %s, tasks_failed = %s WHERE id = %s",
            [(c.items, c.tasks, c.tasks_failed, run_id) for run_id, c in counts.items()],
        )


def delete_run(db: Database, run_id: int) -> None:
    """Forget a claim nobody acted on (a manual run no node accepted: nothing happened)."""
    with db.transaction() as cur:
        cur.execute("DELETE FROM job_runs WHERE id = %s AND status = 'dispatching'", (run_id,))


# -- what a job produced: its tasks and results carry Scrapyd's job id ---------------


def job_counts(db: Database, job_ids: Iterable[str]) -> dict[str, JobCounts]:
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    marks = ", ".join(["%s"] * len(ids))
    with db.transaction() as cur:
        items = cur.execute(
            f"SELECT job_id, COUNT(*) AS n FROM results WHERE job_id IN ({marks}) GROUP BY job_id", ids
        ).fetchall()
        tasks = cur.execute(
            "SELECT job_id, COUNT(*) AS n, SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed"
            f" FROM tasks WHERE job_id IN ({marks}) GROUP BY job_id",
            ids,
        ).fetchall()
    item_n = {r["job_id"]: int(r["n"]) for r in items}
    task_n = {r["job_id"]: (int(r["n"]), int(r["failed"] or 0)) for r in tasks}
    return {job_id: JobCounts(item_n.get(job_id, 0), *task_n.get(job_id, (0, 0))) for job_id in ids}


def _decode(row: dict[str, Any]) -> JobRun:
    return JobRun(
        id=int(row["id"]),
        schedule_id=None if row["schedule_id"] is None else int(row["schedule_id"]),
        spider=row["spider"],
        node=row["node"],
        scrapyd_job_id=row["scrapyd_job_id"],
        status=row["status"],
        fire_time=row["fire_time"],
        dispatched_at=row["dispatched_at"],
        finished_at=row["finished_at"],
        error=row["error"],
        origin=row["origin"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        item_count=int(row["item_count"] or 0),
        task_count=int(row["task_count"] or 0),
        tasks_failed=int(row["tasks_failed"] or 0),
    )
