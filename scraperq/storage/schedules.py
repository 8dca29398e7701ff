"""The ``schedules`` table: recurring spider jobs, by cron in a time zone or by interval.

A schedule names a spider, its spider arguments and per-run Scrapy settings, and
exactly one of ``cron`` (with ``timezone``) or ``interval_seconds``.
``next_fire_time`` is the earliest fire time the scheduler daemon has not handled
yet: the daemon advances it in the same transaction that records what it did with
the fire time (see ``scraperq.storage.jobs``), so a restart resumes where the
last daemon stopped. Writers of cron or interval values compute it with the
daemon's trigger code; this module only stores it.

Every change here is visible to a running daemon at its next tick: it reads due
schedules from the table each time, and keeps nothing that could go stale.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scraperq.errors import BadInput, Conflict, NotFound
from scraperq.storage.connection import Cursor, Database, utcnow

# Parameters of Scrapyd's schedule.json: a spider argument by one of these names
# would be taken by Scrapyd itself (or clash with the job id it passes as `_job`).
RESERVED_ARGS = frozenset({"project", "spider", "jobid", "priority", "setting", "_version", "_job"})

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# interval_seconds is an INTEGER column on both databases.
MAX_INTERVAL_SECONDS = 2**31 - 1
_COLUMNS = (
    "id, name, spider, args, settings, cron, interval_seconds, timezone, enabled,"
    " created_at, updated_at, next_fire_time"
)


@dataclass
class Schedule:
    id: int
    name: str
    spider: str
    args: dict[str, str]
    settings: dict[str, str]
    cron: str | None
    interval_seconds: int | None
    timezone: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    next_fire_time: datetime | None

    def describe_timing(self) -> str:
        if self.cron is not None:
            return f"cron '{self.cron}' {self.timezone}"
        return f"every {format_seconds(self.interval_seconds or 0)}"

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def format_seconds(seconds: int) -> str:
    """3600 -> '1h', 90 -> '90s': the largest unit that divides evenly."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# -- validation that needs nothing but the standard library ---------------------------


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):  # fullmatch: "$" alone would let a final newline through
        raise BadInput(
            f"invalid schedule name {name!r}: use up to 100 letters, digits, '.', '_' or '-', starting with a letter"
            " or digit"
        )
    return name


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name longer than a file name can be
        raise BadInput(f"unknown time zone {name!r}: use an IANA name like Europe/Berlin or Asia/Seoul") from None
    return name


def check_args(args: dict[str, str]) -> dict[str, str]:
    for key in args:
        if not key or not key.isidentifier():
            raise BadInput(f"invalid spider argument name {key!r}: use a Python identifier like url or depth")
        if key in RESERVED_ARGS:
            raise BadInput(f"spider argument {key!r} is reserved by Scrapyd's schedule.json; choose another name")
    return args


def check_settings(settings: dict[str, str]) -> dict[str, str]:
    for key in settings:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", key or ""):
            raise BadInput(f"invalid setting name {key!r}: Scrapy settings are upper case, like DOWNLOAD_DELAY")
    return settings


def check_timing(cron: str | None, interval_seconds: int | None) -> None:
    if (cron is None) == (interval_seconds is None):
        raise BadInput("give exactly one of a cron expression or an interval")
    if interval_seconds is not None and interval_seconds < 1:
        raise BadInput("the interval must be at least 1 second")
    if interval_seconds is not None and interval_seconds > MAX_INTERVAL_SECONDS:
        raise BadInput(f"the interval must be at most {MAX_INTERVAL_SECONDS} seconds (the column is a 32-bit integer)")


# -- reading ---------------------------------------------------------------------------


def get_schedule(db: Database, name: str) -> Schedule:
    with db.transaction() as cur:
        row = cur.execute(f"SELECT {_COLUMNS} FROM schedules WHERE name = %s", (name,)).fetchone()
    if row is None:
        raise NotFound(f"no schedule named {name!r}")
    return _decode(db, row)


def get_schedule_by_id(cur: Cursor, schedule_id: int) -> Schedule | None:
    row = cur.execute(f"SELECT {_COLUMNS} FROM schedules WHERE id = %s", (schedule_id,)).fetchone()
    return None if row is None else _decode(cur.db, row)


def list_schedules(db: Database) -> list[Schedule]:
    with db.transaction() as cur:
        rows = cur.execute(f"SELECT {_COLUMNS} FROM schedules ORDER BY name").fetchall()
    return [_decode(db, r) for r in rows]


def due_schedules(db: Database, now: datetime, *, limit: int = 500) -> list[Schedule]:
    """Enabled schedules whose next fire time has come (or was never computed), earliest first."""
    with db.transaction() as cur:
        rows = cur.execute(
            f"SELECT {_COLUMNS} FROM schedules WHERE enabled = %s"
            " AND (next_fire_time IS NULL OR next_fire_time <= %s)"
            " ORDER BY next_fire_time, id LIMIT %s",
            (True, now, limit),
        ).fetchall()
    return [_decode(db, r) for r in rows]


def earliest_fire_time(db: Database, *, excluding: Iterable[int] = ()) -> datetime | None:
    """The next fire time of any enabled schedule (but those in ``excluding``)."""
    skip = sorted(excluding)
    clause = f" AND id NOT IN ({', '.join(['%s'] * len(skip))})" if skip else ""
    with db.transaction() as cur:
        row = cur.execute(
            f"SELECT MIN(next_fire_time) AS t FROM schedules WHERE enabled = %s{clause}", (True, *skip)
        ).fetchone()
    value = row["t"] if row else None
    if isinstance(value, str):  # SQLite hands back an aggregate's timestamp as text
        value = datetime.fromisoformat(value)
    return value


def lock_schedule(cur: Cursor, schedule_id: int) -> Schedule | None:
    """The schedule, locked until the transaction ends (SQLite's BEGIN IMMEDIATE locks it all)."""
    suffix = " FOR UPDATE" if cur.dialect == "postgresql" else ""
    row = cur.execute(f"SELECT {_COLUMNS} FROM schedules WHERE id = %s{suffix}", (schedule_id,)).fetchone()
    return None if row is None else _decode(cur.db, row)


# -- writing ---------------------------------------------------------------------------


def add_schedule(
    db: Database,
    *,
    name: str,
    spider: str,
    cron: str | None = None,
    interval_seconds: int | None = None,
    timezone: str = "UTC",
    args: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
    next_fire_time: datetime | None = None,
    enabled: bool = True,
    now: datetime | None = None,
) -> Schedule:
    """Insert a schedule; :class:`Conflict` if the name is taken. Nothing is written on error."""
    check_name(name)
    check_timing(cron, interval_seconds)
    check_timezone(timezone)
    args = check_args(dict(args or {}))
    settings = check_settings(dict(settings or {}))
    now = now or utcnow()
    with db.transaction() as cur:
        if cur.execute("SELECT 1 AS x FROM schedules WHERE name = %s", (name,)).fetchone():
            raise Conflict(f"a schedule named {name!r} already exists")
        row = cur.execute(
            "INSERT INTO schedules (name, spider, args, settings, cron, interval_seconds, timezone, enabled,"
            " created_at, updated_at, next_fire_time) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            f" ON CONFLICT (name) DO NOTHING RETURNING {_COLUMNS}",
            (
                name,
                spider,
                db.json_param(args),
                db.json_param(settings),
                cron,
                interval_seconds,
                timezone,
                enabled,
                now,
                now,
                next_fire_time,
            ),
        ).fetchone()
        if row is None:  # another writer took the name between the check and the insert
            raise Conflict(f"a schedule named {name!r} already exists")
    return _decode(db, row)


def update_schedule(
    cur: Cursor,
    schedule_id: int,
    *,
    spider: str,
    cron: str | None,
    interval_seconds: int | None,
    timezone: str,
    args: dict[str, str],
    settings: dict[str, str],
    enabled: bool,
    next_fire_time: datetime | None,
    now: datetime,
) -> Schedule:
    """Write every field of a schedule that the caller has locked (:func:`lock_schedule`) and checked.

    The row keeps its id, so its run history stays attached.
    """
    check_timing(cron, interval_seconds)
    row = cur.execute(
        "UPDATE schedules SET spider = %s, cron = %s, interval_seconds = %s, timezone = %s, args = %s,"
        f" settings = %s, enabled = %s, next_fire_time = %s, updated_at = %s WHERE id = %s RETURNING {_COLUMNS}",
        (
            spider,
            cron,
            interval_seconds,
            timezone,
            cur.db.json_param(args),
            cur.db.json_param(settings),
            enabled,
            next_fire_time,
            now,
            schedule_id,
        ),
    ).fetchone()
    if row is None:
        raise NotFound(f"no schedule with id {schedule_id}")
    return _decode(cur.db, row)


def lock_schedule_named(cur: Cursor, name: str) -> Schedule:
    """The schedule called ``name``, locked until the transaction ends; NotFound if there is none."""
    found = cur.execute("SELECT id FROM schedules WHERE name = %s", (name,)).fetchone()
    schedule = lock_schedule(cur, int(found["id"])) if found else None
    if schedule is None:
        raise NotFound(f"no schedule named {name!r}")
    return schedule


def set_enabled(db: Database, name: str, enabled: bool, *, next_fire_time: datetime | None) -> Schedule:
    """Pause or resume. Resuming restarts from ``next_fire_time``: fire times while paused are not owed."""
    with db.transaction() as cur:
        row = cur.execute(
            f"UPDATE schedules SET enabled = %s, next_fire_time = %s, updated_at = %s WHERE name = %s"
            f" RETURNING {_COLUMNS}",
            (enabled, next_fire_time, utcnow(), name),
        ).fetchone()
    if row is None:
        raise NotFound(f"no schedule named {name!r}")
    return _decode(db, row)


def remove_schedule(db: Database, name: str) -> None:
    """Delete the schedule; its job runs stay on record (their schedule_id becomes NULL)."""
    with db.transaction() as cur:
        if cur.execute("DELETE FROM schedules WHERE name = %s", (name,)).rowcount == 0:
            raise NotFound(f"no schedule named {name!r}")


def set_next_fire_time(cur: Cursor, schedule_id: int, when: datetime | None) -> None:
    # updated_at is left alone: it records changes people make, not the daemon's progress.
    cur.execute("UPDATE schedules SET next_fire_time = %s WHERE id = %s", (when, schedule_id))


def _decode(db: Database, row: dict[str, Any]) -> Schedule:
    return Schedule(
        id=int(row["id"]),
        name=row["name"],
        spider=row["spider"],
        args=db.json_value(row["args"]) or {},
        settings=db.json_value(row["settings"]) or {},
        cron=row["cron"],
        interval_seconds=None if row["interval_seconds"] is None else int(row["interval_seconds"]),
        timezone=row["timezone"],
        enabled=bool(row["enabled"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        next_fire_time=row["next_fire_time"],
    )
