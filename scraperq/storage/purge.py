"""Which finished tasks and results may go, and deleting them: by day, by partition where possible.

A task may go when its status is final (``completed`` or ``failed``), it
finished before its spider's cutoff, and none of its results was scraped at or
after that cutoff; its results go with it. Pending and running tasks, and their
results, are never touched, however old. :class:`Cutoffs` holds the cutoff of
every spider (``None`` keeps a spider's rows for ever); :func:`purgeable_sql` is
that rule as SQL, evaluated by the database wherever rows are chosen, so that
archiving and deleting choose the same rows.

Deleting goes a UTC day at a time (:func:`delete_day`), and deletes exactly the
result ids the caller archived (or read): on PostgreSQL a day partition whose
rows are all among them is dropped whole (:mod:`scraperq.storage.partitions`);
otherwise, and on SQLite, those rows are deleted in chunks. A task is deleted
(:func:`delete_tasks`) only once no result of it is left, so deleting a task
never deletes an unarchived result through ``ON DELETE CASCADE``.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from scraperq.storage import partitions
from scraperq.storage.connection import Database

logger = logging.getLogger(__name__)

_CHUNK = 500  # ids per IN (...) list and per delete transaction
_PAGE = 1000  # rows per read
FINAL_JOB_STATUSES = ("finished", "failed", "cancelled", "skipped", "missed")


@dataclass(frozen=True)
class Cutoffs:
    """Rows finished before these instants may go: one per spider named, ``default`` for the others."""

    default: datetime | None
    per_spider: Mapping[str, datetime | None] = field(default_factory=dict)

    def of(self, spider: str) -> datetime | None:
        return self.per_spider.get(spider, self.default)

    @property
    def latest(self) -> datetime | None:
        found = [c for c in (self.default, *self.per_spider.values()) if c is not None]
        return max(found) if found else None

    def case(self, column: str) -> tuple[str, list[Any]]:
        """The cutoff of the spider in ``column`` as SQL (NULL: kept for ever, as NULL compares to nothing)."""
        if not self.per_spider:
            return "%s", [self.default]
        whens = " ".join(["WHEN %s THEN %s"] * len(self.per_spider))
        params: list[Any] = [v for pair in self.per_spider.items() for v in pair]
        return f"(CASE {column} {whens} ELSE %s END)", [*params, self.default]


def purgeable_sql(cutoffs: Cutoffs, alias: str = "t") -> tuple[str, list[Any]]:
    """The rule for a task ``alias`` of ``tasks`` that may go, and its parameters."""
    case, params = cutoffs.case(f"{alias}.spider")
    sql = (
        f"{alias}.status IN ('completed', 'failed') AND {alias}.finished_at < {case}"
        f" AND NOT EXISTS (SELECT 1 FROM results rk WHERE rk.task_id = {alias}.id AND rk.scraped_at >= {case})"
    )
    return sql, [*params, *params]


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = partitions.day_start(day)
    return start, start + timedelta(days=1)


def days_to_purge(db: Database, cutoffs: Cutoffs) -> Iterator[date]:
    """The UTC days that may hold rows to go, oldest first; days without any row are skipped."""
    latest = cutoffs.latest
    if latest is None:
        return
    rule, params = purgeable_sql(cutoffs)
    after: datetime | None = None
    last = partitions.day_of(latest)
    while True:
        bound = [after] if after is not None else []
        from_result = " AND scraped_at >= %s" if after else ""
        from_task = " AND t.finished_at >= %s" if after else ""
        with db.transaction() as cur:
            first_result = cur.execute(
                f"SELECT MIN(scraped_at) AS at FROM results WHERE scraped_at < %s{from_result}", [latest, *bound]
            ).fetchone()
            first_task = cur.execute(
                f"SELECT MIN(t.finished_at) AS at FROM tasks t WHERE {rule}{from_task}", [*params, *bound]
            ).fetchone()
        starts = [r["at"] for r in (first_result, first_task) if r and r["at"] is not None]
        if not starts:
            return
        day = min(partitions.day_of(_as_time(s)) for s in starts)
        if day > last:
            return
        yield day
        after = partitions.day_start(day + timedelta(days=1))


def spiders_of_day(db: Database, day: date, cutoffs: Cutoffs) -> list[str]:
    """Spiders with results of the day to go, or with tasks to go that finished that day without results."""
    rule, params = purgeable_sql(cutoffs)
    start, end = _day_bounds(day)
    with db.transaction() as cur:
        rows = cur.execute(
            "SELECT DISTINCT r.spider AS spider FROM results r JOIN tasks t ON t.id = r.task_id"
            f" WHERE r.scraped_at >= %s AND r.scraped_at < %s AND {rule}"
            " UNION SELECT DISTINCT t.spider AS spider FROM tasks t"
            f" WHERE t.finished_at >= %s AND t.finished_at < %s AND {rule}"
            " AND NOT EXISTS (SELECT 1 FROM results rn WHERE rn.task_id = t.id)",
            [start, end, *params, start, end, *params],
        ).fetchall()
    return sorted(str(r["spider"]) for r in rows)


def iter_day_tasks(db: Database, day: date, spider: str, cutoffs: Cutoffs) -> Iterator[dict[str, Any]]:
    """Tasks to go that belong in the day's archive of ``spider``: those its results belong to, and the
    spider's tasks without results that finished that day; every column, in id order."""
    rule, params = purgeable_sql(cutoffs)
    start, end = _day_bounds(day)
    where = (
        f"{rule} AND (EXISTS (SELECT 1 FROM results r WHERE r.task_id = t.id AND r.spider = %s"
        " AND r.scraped_at >= %s AND r.scraped_at < %s)"
        " OR (t.spider = %s AND t.finished_at >= %s AND t.finished_at < %s"
        " AND NOT EXISTS (SELECT 1 FROM results rn WHERE rn.task_id = t.id)))"
    )
    for row in _pages(db, "SELECT t.* FROM tasks t", where, [*params, spider, start, end, spider, start, end], "t"):
        row["meta"] = db.json_value(row.get("meta"))
        yield row


def iter_day_results(db: Database, day: date, spider: str, cutoffs: Cutoffs) -> Iterator[dict[str, Any]]:
    """Results of the day and spider whose tasks go; every column, in id order.

    The day's ids are read first (one query the time index or the day's partition answers), then the
    rows a chunk at a time by id: paging by id over a time range would read the range again per page.
    """
    rule, params = purgeable_sql(cutoffs)
    start, end = _day_bounds(day)
    with db.transaction() as cur:
        found = cur.execute(
            "SELECT r.id FROM results r JOIN tasks t ON t.id = r.task_id"
            f" WHERE r.scraped_at >= %s AND r.scraped_at < %s AND r.spider = %s AND {rule} ORDER BY r.id",
            [start, end, spider, *params],
        ).fetchall()
    ids = array("q", (int(r["id"]) for r in found))
    for chunk in _chunks(ids):
        with db.transaction() as cur:
            rows = cur.execute(
                f"SELECT * FROM results WHERE scraped_at >= %s AND scraped_at < %s AND id IN {_in_list(chunk)}"
                " ORDER BY id",
                [start, end, *chunk],
            ).fetchall()
        for row in rows:
            row["data"] = db.json_value(row["data"])
            yield row


def _pages(db: Database, select: str, where: str, params: list[Any], alias: str) -> Iterator[dict[str, Any]]:
    last_id = 0
    while True:
        with db.transaction() as cur:
            rows = cur.execute(
                f"{select} WHERE {where} AND {alias}.id > %s ORDER BY {alias}.id LIMIT %s", [*params, last_id, _PAGE]
            ).fetchall()
        yield from rows
        if len(rows) < _PAGE:
            return
        last_id = int(rows[-1]["id"])


@dataclass
class DayDeleted:
    results: int = 0
    dropped_partition: str | None = None


def delete_day(db: Database, day: date, result_ids: Sequence[int]) -> DayDeleted:
    """Delete these results of ``day``: its partition dropped if they are all it holds, else row by row."""
    done = DayDeleted()
    if not result_ids:
        return done
    start, end = _day_bounds(day)
    if db.dialect == "postgresql":
        name = partitions.partition_name(day)
        with db.transaction() as cur:
            if partitions.is_partitioned(cur) and any(p.name == name for p in partitions.partitions(cur)):
                cur.execute(f"SET LOCAL lock_timeout = '{partitions.LOCK_TIMEOUT}'")
                # No writer can add a row to the day between the count and the drop.
                cur.execute(f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE")
                row = cur.execute(f"SELECT COUNT(*) AS n FROM {name}").fetchone()
                if row and int(row["n"]) == len(set(result_ids)):
                    cur.execute(f"DROP TABLE {name}")
                    logger.info("Dropped the results partition of %s (%d rows)", day, len(result_ids))
                    done.results, done.dropped_partition = len(result_ids), name
                    return done
    ids = sorted(set(int(i) for i in result_ids))
    for chunk in _chunks(ids):
        with db.transaction() as cur:
            done.results += cur.execute(
                f"DELETE FROM results WHERE scraped_at >= %s AND scraped_at < %s AND id IN {_in_list(chunk)}",
                [start, end, *chunk],
            ).rowcount
    return done


def drop_empty_past(db: Database, cutoff: datetime | None) -> bool:
    """Drop ``results_past`` (the table before partitioning) once it is empty and wholly before ``cutoff``."""
    if db.dialect != "postgresql" or cutoff is None:
        return False
    with db.transaction() as cur:
        past = next((p for p in partitions.partitions(cur) if p.name == partitions.PAST), None)
        if past is None or past.end > cutoff:
            return False
        cur.execute(f"SET LOCAL lock_timeout = '{partitions.LOCK_TIMEOUT}'")
        cur.execute(f"LOCK TABLE {partitions.PAST} IN ACCESS EXCLUSIVE MODE")
        if cur.execute(f"SELECT 1 AS one FROM {partitions.PAST} LIMIT 1").fetchone() is not None:
            return False
        cur.execute(f"DROP TABLE {partitions.PAST}")
    return True


def delete_tasks(db: Database, task_ids: Iterable[int], cutoffs: Cutoffs) -> set[int]:
    """Delete these tasks where they still may go and no result of theirs is left; the ids deleted."""
    rule, params = purgeable_sql(cutoffs)
    deleted: set[int] = set()
    for chunk in _chunks(sorted(set(int(i) for i in task_ids))):
        with db.transaction() as cur:
            rows = cur.execute(
                f"DELETE FROM tasks WHERE id IN (SELECT t.id FROM tasks t WHERE t.id IN {_in_list(chunk)} AND {rule}"
                " AND NOT EXISTS (SELECT 1 FROM results r WHERE r.task_id = t.id)) RETURNING id",
                [*chunk, *params],
            ).fetchall()
        deleted.update(int(r["id"]) for r in rows)
    return deleted


def delete_job_runs(db: Database, cutoffs: Cutoffs, *, keep: int | None = None) -> int:
    """Delete final job runs that ended (or were recorded) before their spider's cutoff."""
    case, params = cutoffs.case("spider")
    marks = ", ".join(["%s"] * len(FINAL_JOB_STATUSES))
    with db.transaction() as cur:
        return cur.execute(
            f"DELETE FROM job_runs WHERE status IN ({marks})"
            f" AND COALESCE(finished_at, fire_time, created_at) < {case} AND id <> %s",
            [*FINAL_JOB_STATUSES, *params, keep or 0],
        ).rowcount


def count_purgeable(db: Database, cutoffs: Cutoffs) -> tuple[int, int]:
    """(tasks, results) that may go now."""
    rule, params = purgeable_sql(cutoffs)
    with db.transaction() as cur:
        tasks = cur.execute(f"SELECT COUNT(*) AS n FROM tasks t WHERE {rule}", params).fetchone()
        results = cur.execute(
            f"SELECT COUNT(*) AS n FROM results r JOIN tasks t ON t.id = r.task_id WHERE {rule}", params
        ).fetchone()
    return int(tasks["n"]) if tasks else 0, int(results["n"]) if results else 0


def _as_time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield [int(i) for i in ids[start : start + _CHUNK]]


def _in_list(chunk: Sequence[int]) -> str:
    """``(%s, %s, ...)``: placeholders only; the ids travel as parameters."""
    return "(" + ", ".join(["%s"] * len(chunk)) + ")"
