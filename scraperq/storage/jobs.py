"""The ``job_runs`` table: what became of each fire time, and of every crawl Scrapyd ran.

One row per (schedule, fire time), made unique by ``job_runs_once_idx``: the
scheduler daemon inserts the row *before* it calls Scrapyd, so a second daemon,
a restart or a retry can never dispatch the same fire time twice. One row per
Scrapyd job too (``job_runs_job_idx``): the crawl finds its row by its job id,
and a job the scheduler did not start (``schedule.json`` called directly,
``scrapyd-client``) gets a row of its own when its crawl starts.

Statuses:

* ``requested``: a run asked for by ``scraperq schedule run`` or the API, which
  the leading daemon picks up within two seconds;
* ``dispatching``: claimed; the Scrapyd job id is chosen but no node has
  confirmed it yet (a row left here by a dead daemon is resolved by asking the
  nodes for that job id);
* ``pending`` / ``running``: accepted by ``node`` as ``scrapyd_job_id``; a
  running crawl keeps ``heartbeat_at`` fresh (``scraperq/jobreport.py``);
* ``finished`` / ``failed`` / ``cancelled``: final, ``error`` says why it
  failed; ``finish_reason`` is Scrapy's close reason when the crawl recorded its
  own end (the daemon never overrides such a row);
* ``skipped``: not run because the previous run was still going;
* ``missed``: not run because no daemon ran in time (``error`` says which policy).

``origin`` is ``schedule`` for fire times, ``manual`` for ``scraperq schedule
run`` and the API, and ``scrapyd`` for jobs started on a node directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scraperq.errors import NotFound
from scraperq.storage.connection import Cursor, Database, utcnow

ACTIVE_STATUSES = ("requested", "dispatching", "pending", "running")
FINAL_STATUSES = ("finished", "failed", "cancelled", "skipped", "missed")
STATUSES = ACTIVE_STATUSES + FINAL_STATUSES
ORIGINS = ("schedule", "manual", "scrapyd", "maintenance")
# Rows a crawl's own report brings back to running: the daemon's guesses (not yet confirmed, or lost).
_REVIVABLE = ("dispatching", "pending", "failed")

_COLUMNS = (
    "id, schedule_id, spider, node, scrapyd_job_id, status, fire_time, dispatched_at, finished_at, error,"
    " origin, created_at, started_at, item_count, task_count, tasks_failed,"
    " heartbeat_at, host, pid, pages, finish_reason"
)
_ACTIVE_MARKS = ", ".join(f"'{s}'" for s in ACTIVE_STATUSES)


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
    heartbeat_at: datetime | None = None
    host: str | None = None
    pid: int | None = None
    pages: int = 0
    finish_reason: str | None = None

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
        f"SELECT {_COLUMNS} FROM job_runs WHERE schedule_id = %s AND status IN ({_ACTIVE_MARKS}) ORDER BY id",
        (schedule_id,),
    ).fetchall()
    return [_decode(r) for r in rows]


# -- runs asked for by hand (scraperq schedule run, the API) ----------------------------------


def request_run(cur: Cursor, *, schedule_id: int, spider: str, job_id: str, now: datetime) -> int:
    """Record a run request (the schedule's row is locked by the caller, and nothing of it is active)."""
    row = cur.execute(
        "INSERT INTO job_runs (schedule_id, spider, scrapyd_job_id, status, fire_time, origin, created_at)"
        " VALUES (%s, %s, %s, 'requested', %s, 'manual', %s) RETURNING id",
        (schedule_id, spider, job_id, now, now),
    ).fetchone()
    return int(row["id"])


def take_request(cur: Cursor, run_id: int) -> bool:
    """Move a requested run to ``dispatching`` (the caller dispatches it); False if another daemon took it."""
    cur.execute("UPDATE job_runs SET status = 'dispatching' WHERE id = %s AND status = 'requested'", (run_id,))
    return cur.rowcount > 0


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


def list_runs(
    db: Database,
    *,
    status: str | None = None,
    spider: str | None = None,
    schedule_id: int | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[JobRun]:
    """Newest first, filtered; ``before_id`` pages backwards (what the console and ``/api/jobs`` show)."""
    where, params = [], []
    for column, value in (("status", status), ("spider", spider), ("schedule_id", schedule_id)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if before_id is not None:
        where.append("id < %s")
        params.append(before_id)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    params.append(max(0, int(limit)))
    with db.transaction() as cur:
        rows = cur.execute(f"SELECT {_COLUMNS} FROM job_runs {clause} ORDER BY id DESC LIMIT %s", params).fetchall()
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
    """A node took the job. Only a row still being dispatched changes status: a later state (the crawl may
    have reported itself running already) is never undone, but it learns its node."""
    with db.transaction() as cur:
        cur.execute(
            "UPDATE job_runs SET node = COALESCE(node, %s), dispatched_at = COALESCE(dispatched_at, %s),"
            " error = CASE WHEN status = 'dispatching' THEN NULL ELSE error END,"
            " status = CASE WHEN status = 'dispatching' THEN %s ELSE status END"
            " WHERE id = %s",
            (node, at, status, run_id),
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
    """Finish an active run (finished, failed, cancelled or missed); False if it was already final."""
    assert status in FINAL_STATUSES, status
    counts = counts or JobCounts(0, 0, 0)
    with db.transaction() as cur:
        cur.execute(
            "UPDATE job_runs SET status = %s, finished_at = %s, error = %s,"
            " item_count = %s, task_count = %s, tasks_failed = %s"
            f" WHERE id = %s AND status IN ({_ACTIVE_MARKS}) AND finish_reason IS NULL",
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


# -- what the crawl says of itself (scraperq/jobreport.py) -----------------------------------


def crawl_started(db: Database, *, job_id: str, spider: str, host: str, pid: int, at: datetime) -> int:
    """The crawl of Scrapyd job ``job_id`` runs: its row says so (a job the scheduler did not start gets one)."""
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO job_runs (spider, scrapyd_job_id, status, origin, created_at, started_at, heartbeat_at,"
            " host, pid) VALUES (%s, %s, 'running', 'scrapyd', %s, %s, %s, %s, %s)"
            " ON CONFLICT (scrapyd_job_id) DO NOTHING",
            (spider, job_id, at, at, at, host, pid),
        )
        cur.execute(
            "UPDATE job_runs SET started_at = COALESCE(started_at, %s), heartbeat_at = %s, host = %s, pid = %s,"
            f" status = CASE WHEN status IN {_REVIVABLE!r} THEN 'running' ELSE status END,"
            " finished_at = CASE WHEN status = 'failed' THEN NULL ELSE finished_at END,"
            " error = CASE WHEN status = 'failed' THEN NULL ELSE error END"
            " WHERE scrapyd_job_id = %s AND finish_reason IS NULL",
            (at, at, host, pid, job_id),
        )
        row = cur.execute("SELECT id FROM job_runs WHERE scrapyd_job_id = %s", (job_id,)).fetchone()
    return int(row["id"])


def crawl_heartbeat(db: Database, *, job_id: str, at: datetime, pages: int) -> JobCounts:
    """The crawl is alive; its progress (pages fetched, and items and tasks stored) goes on its row."""
    counts = job_counts(db, [job_id])[job_id]
    with db.transaction() as cur:
        cur.execute(
            "UPDATE job_runs SET heartbeat_at = %s, pages = %s, item_count = %s, task_count = %s, tasks_failed = %s,"
            f" status = CASE WHEN status IN {_REVIVABLE!r} THEN 'running' ELSE status END,"
            " finished_at = CASE WHEN status = 'failed' THEN NULL ELSE finished_at END,"
            " error = CASE WHEN status = 'failed' THEN NULL ELSE error END"
            " WHERE scrapyd_job_id = %s AND finish_reason IS NULL",
            (at, pages, counts.items, counts.tasks, counts.tasks_failed, job_id),
        )
    return counts


def crawl_ended(
    db: Database,
    *,
    job_id: str,
    spider: str,
    status: str,
    finish_reason: str,
    error: str | None,
    pages: int,
    at: datetime,
) -> None:
    """The crawl's own account of its end; it wins over anything the daemon guessed, and is written once."""
    assert status in ("finished", "failed", "cancelled"), status
    counts = job_counts(db, [job_id])[job_id]
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO job_runs (spider, scrapyd_job_id, status, origin, created_at, started_at)"
            " VALUES (%s, %s, 'running', 'scrapyd', %s, %s) ON CONFLICT (scrapyd_job_id) DO NOTHING",
            (spider, job_id, at, at),
        )
        cur.execute(
            "UPDATE job_runs SET status = %s, finish_reason = %s, error = %s, finished_at = %s, heartbeat_at = %s,"
            " pages = %s, item_count = %s, task_count = %s, tasks_failed = %s"
            " WHERE scrapyd_job_id = %s AND finish_reason IS NULL",
            (status, finish_reason, error, at, at, pages, counts.items, counts.tasks, counts.tasks_failed, job_id),
        )


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


def failed_task_errors(db: Database, job_ids: Iterable[str]) -> dict[str, str]:
    """The error of one failed task (the first) per job: why a run that finished stored nothing."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    marks = ", ".join(["%s"] * len(ids))
    with db.transaction() as cur:
        rows = cur.execute(
            "SELECT t.job_id, t.error FROM tasks t JOIN (SELECT job_id, MIN(id) AS id FROM tasks"
            f" WHERE status = 'failed' AND job_id IN ({marks}) GROUP BY job_id) first ON t.id = first.id",
            ids,
        ).fetchall()
    return {r["job_id"]: r["error"] or "failed" for r in rows}


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
        heartbeat_at=row["heartbeat_at"],
        host=row["host"],
        pid=None if row["pid"] is None else int(row["pid"]),
        pages=int(row["pages"] or 0),
        finish_reason=row["finish_reason"],
    )
