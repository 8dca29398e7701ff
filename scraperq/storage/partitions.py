"""Day partitions of ``results`` on PostgreSQL (SQLite keeps one table and deletes rows).

``results`` is range-partitioned on ``scraped_at``, one partition per UTC day,
named ``results_pYYYYMMDD``, so retention drops a day as a whole instead of
deleting its rows one by one. Partitions are made ahead of need by the
scheduler daemon and by ``scraperq migrate`` (:func:`ensure_partitions`), and a
write for a day that has none yet makes it first (:func:`ensure_days`), so no
row is ever refused for want of a partition.

Migration 12 turns an existing unpartitioned table into this shape
(:func:`partition_results`) without holding an exclusive lock for longer than a
few catalogue changes, whatever the table's size:

1. ``CHECK (scraped_at < B) NOT VALID`` on the old table, ``B`` two days ahead
   (instant: existing rows are not read);
2. ``VALIDATE CONSTRAINT`` (reads every row, but under a lock that lets writes
   and reads go on), and the indexes the partitioned table needs, built
   ``CONCURRENTLY``;
3. in one short transaction: rename the old table to ``results_past``, rename
   the new empty partitioned table to ``results``, and attach ``results_past``
   as the partition of everything before ``B`` (the validated constraint proves
   its rows fit, so nothing is scanned and its indexes are adopted); then the
   day partitions from ``B`` on, each in a transaction of its own.

No row is copied, so none can be lost or doubled; writes that arrive meanwhile
go to the old table, which becomes the partition. Retention later deletes
``results_past`` a day at a time and drops it once it is empty.

A unique index of a partitioned table must contain the partition key, so
``(task_id, fingerprint)`` alone cannot be unique across days any more; the
insert on PostgreSQL (``scraperq.storage.results``) keeps "a request delivered
twice stores one row" by locking the (task, fingerprint) pair and checking
first.
"""

from __future__ import annotations

import logging
import re
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from scraperq.storage.connection import Cursor, Database, utcnow

logger = logging.getLogger(__name__)

PREFIX = "results_p"
PAST = "results_past"
# Days made ahead of today by the daemon and `scraperq migrate`.
AHEAD = 3
# A partition is made (a brief exclusive lock on results) only if that lock comes quickly; a query
# holding results for long must not make every writer queue behind the wait.
LOCK_TIMEOUT = "5s"
_NAME = re.compile(rf"^{PREFIX}(\d{{8}})$")
# Per database handle: days a writer found a partition for (never dropped while a writer could write to
# them: retention keeps at least yesterday and today), and whether results is partitioned, so that a
# batch costs no look at the catalogue.
_known: weakref.WeakKeyDictionary[Database, set[date]] = weakref.WeakKeyDictionary()


def day_start(day: date) -> datetime:
    return datetime.combine(day, dtime(0), tzinfo=UTC)


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def partition_name(day: date) -> str:
    return f"{PREFIX}{day:%Y%m%d}"


def _literal(moment: datetime) -> str:
    """A timestamp as SQL text; our own dates only (DDL takes no parameters)."""
    return "'" + moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00") + "'"


def is_partitioned(cur: Cursor) -> bool:
    if cur.dialect != "postgresql":
        return False
    if cur.db in _known:
        return True
    row = cur.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass('results')").fetchone()
    if bool(row) and row["relkind"] == "p":
        _known.setdefault(cur.db, set())
        return True
    return False


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime | None  # None: from the beginning of time
    end: datetime

    @property
    def day(self) -> date | None:
        """The day of a day partition; None for ``results_past``."""
        match = _NAME.match(self.name)
        return datetime.strptime(match.group(1), "%Y%m%d").date() if match else None


_BOUND = re.compile(r"FROM \((.+?)\) TO \((.+?)\)")


def partitions(cur: Cursor) -> list[Partition]:
    """The partitions of ``results``, oldest first."""
    cur.execute("SET LOCAL TimeZone = 'UTC'")  # bounds are printed in the session's zone
    rows = cur.execute(
        "SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass('results')"
    ).fetchall()
    found = []
    for row in rows:
        match = _BOUND.search(row["bound"] or "")
        if not match:
            continue
        low, high = (None if v == "MINVALUE" else datetime.fromisoformat(v.strip("'")) for v in match.groups())
        assert high is not None
        found.append(Partition(row["name"], low, high))
    return sorted(found, key=lambda p: p.end)


def ensure_days(cur: Cursor, days: Iterable[date]) -> None:
    """Make sure each day has somewhere to go, inside the caller's transaction (a writer's)."""
    known = _known.setdefault(cur.db, set())
    wanted = sorted(set(days) - known)
    if not wanted:
        return
    existing = {p.day: p for p in partitions(cur)}
    past_end = next((p.end for p in existing.values() if p.day is None), None)
    recent = day_of(utcnow()) - timedelta(days=1)
    for day in wanted:
        if day not in existing and not (past_end is not None and day_start(day) < past_end):
            _create(cur, day)
        if day >= recent:
            known.add(day)


def _create(cur: Cursor, day: date) -> None:
    start = day_start(day)
    cur.execute(
        f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF results"
        f" FOR VALUES FROM ({_literal(start)}) TO ({_literal(start + timedelta(days=1))})"
    )
    logger.info("Made the results partition for %s", day)


def ensure_partitions(db: Database, *, today: date | None = None, ahead: int = AHEAD) -> list[date]:
    """Make the partitions of today and the next ``ahead`` days that are missing; the days made."""
    if db.dialect != "postgresql":
        return []
    today = today or day_of(utcnow())
    made = []
    with db.transaction() as cur:
        if not is_partitioned(cur):
            return []
        existing = partitions(cur)
    have = {p.day for p in existing}
    past_end = next((p.end for p in existing if p.day is None), None)
    for offset in range(ahead + 1):
        day = today + timedelta(days=offset)
        if day in have or (past_end is not None and day_start(day) < past_end):
            continue
        with db.transaction() as cur:
            cur.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            _create(cur, day)
        made.append(day)
    return made


# -- migration 12: an unpartitioned table into partitions --------------------------------------


@dataclass
class ConversionReport:
    rows_in_past: int = 0
    # Seconds each step held a lock that stops writes to results (the catalogue changes only).
    exclusive_locks: dict[str, float] = field(default_factory=dict)
    # Seconds of the steps that read the table under a lock that lets writes go on.
    online: dict[str, float] = field(default_factory=dict)

    @property
    def longest_exclusive(self) -> float:
        return max(self.exclusive_locks.values(), default=0.0)


_INDEXES = (
    # (name on the partitioned table, name of the matching index built on the old table, columns, unique)
    ("results_by_id", "results_past_by_id", "(id, scraped_at)", True),
    ("results_by_task", "results_past_by_task", "(task_id, fingerprint, scraped_at)", True),
    ("results_by_spider", "results_past_by_spider", "(spider, id)", False),
    ("results_by_time", "results_past_by_time", "(scraped_at)", False),
    ("results_by_job", "results_past_by_job", "(job_id)", False),
)


def partition_results(
    url: str, *, ahead: int = AHEAD, now: Callable[[], datetime] = utcnow, connect: Callable[..., Any] | None = None
) -> ConversionReport:
    """Turn an unpartitioned ``results`` into day partitions (see the module's text); idempotent."""
    import psycopg

    report = ConversionReport()
    conn = (connect or psycopg.connect)(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            kind = cur.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass('results')").fetchone()
            if kind and kind[0] == "p":
                return report
            rows = cur.execute("SELECT EXISTS (SELECT 1 FROM results)").fetchone()[0]
            today = day_of(now())
            bound = day_start(today + timedelta(days=2))
            with conn.transaction():  # one commit for the whole empty parent
                _create_parent(cur)
            if not rows:
                try:
                    _swap(conn, None, today, ahead, report)
                    return report
                except _NotEmpty:  # a first row came in meanwhile: the way that keeps rows
                    pass
            _prepare_past(cur, bound, report)
            _swap(conn, bound, today, ahead, report)
            report.rows_in_past = int(cur.execute(f"SELECT COUNT(*) FROM {PAST}").fetchone()[0])
    finally:
        conn.close()
    return report


def _timed(conn_or_cur: Any, statements: Iterable[str], report: dict[str, float], name: str) -> None:
    started = time.perf_counter()
    for statement in statements:
        conn_or_cur.execute(statement)
    report[name] = report.get(name, 0.0) + time.perf_counter() - started


def _prepare_past(cur: Any, bound: datetime, report: ConversionReport) -> None:
    cur.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    cur.execute("ALTER TABLE results DROP CONSTRAINT IF EXISTS results_past_range")
    _timed(
        cur,
        [f"ALTER TABLE results ADD CONSTRAINT results_past_range CHECK (scraped_at < {_literal(bound)}) NOT VALID"],
        report.exclusive_locks,
        "add the range check (NOT VALID)",
    )
    cur.execute("RESET lock_timeout")
    _timed(cur, ["ALTER TABLE results VALIDATE CONSTRAINT results_past_range"], report.online, "validate it")
    for _parent, name, columns, unique in _INDEXES:
        cur.execute(f"DROP INDEX IF EXISTS {name}")  # an earlier attempt's, perhaps left invalid
        _timed(
            cur,
            [f"CREATE {'UNIQUE ' if unique else ''}INDEX CONCURRENTLY {name} ON results {columns}"],
            report.online,
            "build the indexes concurrently",
        )


def _create_parent(cur: Any) -> None:
    cur.execute("DROP TABLE IF EXISTS results_partitioned")
    cur.execute("CREATE TABLE results_partitioned (LIKE results INCLUDING DEFAULTS) PARTITION BY RANGE (scraped_at)")
    cur.execute(
        "ALTER TABLE results_partitioned ADD CONSTRAINT results_task_fk"
        " FOREIGN KEY (task_id) REFERENCES tasks (id) ON DELETE CASCADE"
    )
    for name, _past, columns, unique in _INDEXES:
        cur.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX {name} ON results_partitioned {columns}")


class _NotEmpty(Exception):
    pass


def _swap(conn: Any, bound: datetime | None, today: date, ahead: int, report: ConversionReport) -> None:
    """The one step that stops writes (renames and the attach), then the first day partitions."""
    import psycopg

    first = day_of(bound) if bound is not None else today
    for attempt in range(1, 21):
        try:
            started = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                cur.execute("LOCK TABLE results IN ACCESS EXCLUSIVE MODE")
                if bound is not None:
                    cur.execute(f"ALTER TABLE results RENAME TO {PAST}")
                    cur.execute("ALTER TABLE results_partitioned RENAME TO results")
                    cur.execute("ALTER SEQUENCE results_id_seq OWNED BY results.id")
                    cur.execute(
                        f"ALTER TABLE results ATTACH PARTITION {PAST} FOR VALUES FROM (MINVALUE) TO ({_literal(bound)})"
                    )
                    cur.execute(f"ALTER TABLE {PAST} DROP CONSTRAINT results_past_range")
                else:  # nothing stored yet: the empty table simply makes way
                    if cur.execute("SELECT EXISTS (SELECT 1 FROM results)").fetchone()[0]:
                        raise _NotEmpty
                    cur.execute("ALTER SEQUENCE results_id_seq OWNED BY results_partitioned.id")
                    cur.execute("DROP TABLE results")
                    cur.execute("ALTER TABLE results_partitioned RENAME TO results")
            report.exclusive_locks["swap and attach"] = time.perf_counter() - started
            break
        except psycopg.errors.LockNotAvailable:
            logger.warning("results is busy; trying the swap again (attempt %d)", attempt)
            time.sleep(min(5.0, 0.2 * attempt))
    else:
        raise RuntimeError("could not take results for the swap in 20 attempts: a long query holds it")
    # The day partitions from the bound on, each in a short transaction of its own, after the swap.
    for offset in range(ahead + 1):
        day = first + timedelta(days=offset)
        start = day_start(day)
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF results"
                f" FOR VALUES FROM ({_literal(start)}) TO ({_literal(start + timedelta(days=1))})"
            )
