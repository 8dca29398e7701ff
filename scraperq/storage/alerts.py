"""Alerts the scheduler raised, their deliveries, and what the alerting remembers between passes.

Three tables (migration in :mod:`scraperq.storage.migrations`):

* ``alerts``: one row per event, ``event_id`` unique. The id is derived from
  what happened (``job.failed:42:...``, ``node.down:http://host:6800:3``), so a
  failure seen on every pass, by a restarted daemon or by the daemon that took
  over from a dead leader, is one row: raising it again is a no-op. ``payload``
  is the JSON body webhooks receive.
* ``alert_deliveries``: one row per event and destination (``webhook``,
  ``slack``), written in the same transaction as the event. A daemon sends only
  rows it has *leased* (``leased_until``), so two daemons during a hand-over never
  send one row at once; ``attempts`` counts the tries, ``last_error`` says why the
  last one failed, ``next_attempt_at`` when to try again. Status ``pending`` ->
  ``delivered`` or ``failed`` (given up). Payloads are stored; destination URLs are
  not (they carry secrets and come from the environment at each start).
* ``alert_state``: a value per key with a count of changes: whether a node is
  ``up`` or ``down``, whether a spider's dead letters are ``over`` or ``under``
  their threshold, and the alerting's cursor in ``job_runs``. A change is a
  compare-and-set, so only one daemon ever sees a given transition.

Delivery is at-least-once toward the receiver: a daemon killed after the
receiver took a message but before it recorded so sends it again after the
lease runs out. Receivers drop repeats by the event id (also sent as the
``X-Scraperq-Event-Id`` header).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scraperq.storage.connection import Cursor, Database

DESTINATIONS = ("webhook", "slack")
DELIVERY_STATUSES = ("pending", "delivered", "failed")
# How deliveries are counted for the metric: pending ones split by whether a try has failed yet.
OUTCOMES = ("pending", "retrying", "delivered", "failed")

MIGRATION_STATEMENTS = (
    """
    CREATE TABLE IF NOT EXISTS alerts (
        id {PK},
        event_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        payload {JSON} NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS alerts_type_idx ON alerts (type, id)",
    """
    CREATE TABLE IF NOT EXISTS alert_deliveries (
        id {PK},
        event_id TEXT NOT NULL REFERENCES alerts (event_id) ON DELETE CASCADE,
        destination TEXT NOT NULL CHECK (destination IN ('webhook', 'slack')),
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_attempt_at TIMESTAMPTZ NOT NULL,
        leased_until TIMESTAMPTZ,
        created_at TIMESTAMPTZ NOT NULL,
        delivered_at TIMESTAMPTZ,
        UNIQUE (event_id, destination)
    )
    """,
    # The couriers' question: what is due for my destination?
    "CREATE INDEX IF NOT EXISTS alert_deliveries_due_idx ON alert_deliveries (destination, status, next_attempt_at)",
    """
    CREATE TABLE IF NOT EXISTS alert_state (
        key TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        changes INTEGER NOT NULL DEFAULT 0,
        changed_at TIMESTAMPTZ NOT NULL
    )
    """,
)

_DELIVERY_COLUMNS = (
    "d.id, d.event_id, d.destination, d.status, d.attempts, d.last_error, d.next_attempt_at, d.created_at,"
    " d.delivered_at, a.type"
)


@dataclass
class Delivery:
    id: int
    event_id: str
    type: str
    destination: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Alert:
    id: int
    event_id: str
    type: str
    payload: dict[str, Any]
    created_at: datetime
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return str(self.payload.get("summary") or "")

    def as_dict(self) -> dict[str, Any]:
        found = {k: v for k, v in vars(self).items() if k != "deliveries"}
        return {**found, "summary": self.summary, "deliveries": [d.as_dict() for d in self.deliveries]}


@dataclass(frozen=True)
class DueDelivery:
    """A delivery to make, with the event's body."""

    id: int
    event_id: str
    type: str
    destination: str
    attempts: int
    payload: dict[str, Any]


# -- raising events ---------------------------------------------------------------------


def known_events(db: Database, event_ids: Iterable[str]) -> set[str]:
    """Those of ``event_ids`` already raised."""
    ids = sorted(set(event_ids))
    found: set[str] = set()
    with db.transaction() as cur:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join(["%s"] * len(chunk))
            rows = cur.execute(f"SELECT event_id FROM alerts WHERE event_id IN ({marks})", chunk).fetchall()
            found.update(r["event_id"] for r in rows)
    return found


@dataclass(frozen=True)
class NewAlert:
    event_id: str
    type: str
    payload: dict[str, Any]


def record_alert(db: Database, alert: NewAlert, *, destinations: Sequence[str], at: datetime) -> bool:
    """Record an event and a pending delivery to each destination, in one transaction.

    False (and nothing written) when the event was raised before, by this daemon or any other.
    """
    with db.transaction() as cur:
        return _insert_alert(cur, alert, destinations, at)


def _insert_alert(cur: Cursor, alert: NewAlert, destinations: Sequence[str], at: datetime) -> bool:
    row = cur.execute(
        "INSERT INTO alerts (event_id, type, payload, created_at) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING id",
        (alert.event_id, alert.type, cur.db.json_param(alert.payload), at),
    ).fetchone()
    if row is None:
        return False
    cur.executemany(
        "INSERT INTO alert_deliveries (event_id, destination, next_attempt_at, created_at) VALUES (%s, %s, %s, %s)",
        [(alert.event_id, destination, at, at) for destination in destinations],
    )
    return True


# -- state between passes -------------------------------------------------------------------


def change_state(
    db: Database,
    key: str,
    state: str,
    *,
    initial: str,
    at: datetime,
    alert: Callable[[int], NewAlert | None] | None = None,
    destinations: Sequence[str] = (),
) -> int | None:
    """Set ``key`` to ``state`` if it is not already; the number of this change, or None if nothing changed.

    A key never seen starts as ``initial`` with no change counted, so the first change
    away from it is number 1. Compare-and-set: of two daemons making the same change,
    one gets the number. ``alert(number)`` gives the event the change raises, recorded in the
    same transaction: a change is never recorded without its event, nor the reverse.
    """
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO alert_state (key, state, changes, changed_at) VALUES (%s, %s, 0, %s)"
            " ON CONFLICT (key) DO NOTHING",
            (key, initial, at),
        )
        row = cur.execute(
            "UPDATE alert_state SET state = %s, changes = changes + 1, changed_at = %s"
            " WHERE key = %s AND state <> %s RETURNING changes",
            (state, at, key, state),
        ).fetchone()
        if row is None:
            return None
        number = int(row["changes"])
        raised = alert(number) if alert is not None else None
        if raised is not None:
            _insert_alert(cur, raised, destinations, at)
    return number


def read_state(db: Database, key: str) -> tuple[str, datetime] | None:
    """The value of ``key`` and when it last changed."""
    with db.transaction() as cur:
        row = cur.execute("SELECT state, changed_at FROM alert_state WHERE key = %s", (key,)).fetchone()
    return None if row is None else (row["state"], row["changed_at"])


def write_state(db: Database, key: str, value: str, *, at: datetime) -> None:
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO alert_state (key, state, changes, changed_at) VALUES (%s, %s, 0, %s)"
            " ON CONFLICT (key) DO UPDATE SET state = excluded.state, changed_at = excluded.changed_at",
            (key, value, at),
        )


# -- what the alerting reads of job_runs -------------------------------------------------------


@dataclass(frozen=True)
class EndedRun:
    """A final run worth a look: failed, or a schedule's run that finished with no item."""

    id: int
    schedule_id: int | None
    schedule_name: str | None
    schedule_settings: dict[str, Any]
    spider: str
    node: str | None
    scrapyd_job_id: str | None
    status: str
    origin: str
    error: str | None
    fire_time: datetime | None
    started_at: datetime | None
    finished_at: datetime
    item_count: int
    task_count: int
    tasks_failed: int
    pages: int

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "schedule_settings"}


def runs_ended_since(db: Database, since: datetime, *, limit: int = 5000) -> list[EndedRun]:
    """Failed runs, and runs of schedules that finished with no item, that ended at ``since`` or later
    (oldest first)."""
    with db.transaction() as cur:
        rows = cur.execute(
            "SELECT j.id, j.schedule_id, s.name AS schedule_name, s.settings AS schedule_settings, j.spider, j.node,"
            " j.scrapyd_job_id, j.status, j.origin, j.error, j.fire_time, j.started_at, j.finished_at,"
            " j.item_count, j.task_count, j.tasks_failed, j.pages"
            " FROM job_runs j LEFT JOIN schedules s ON s.id = j.schedule_id"
            " WHERE j.finished_at >= %s"
            " AND (j.status = 'failed' OR (j.status = 'finished' AND j.schedule_id IS NOT NULL AND j.item_count = 0))"
            " ORDER BY j.finished_at, j.id LIMIT %s",
            (since, limit),
        ).fetchall()
    return [
        EndedRun(
            id=int(r["id"]),
            schedule_id=None if r["schedule_id"] is None else int(r["schedule_id"]),
            schedule_name=r["schedule_name"],
            schedule_settings=db.json_value(r["schedule_settings"]) if r["schedule_settings"] is not None else {},
            spider=r["spider"],
            node=r["node"],
            scrapyd_job_id=r["scrapyd_job_id"],
            status=r["status"],
            origin=r["origin"],
            error=r["error"],
            fire_time=r["fire_time"],
            started_at=r["started_at"],
            finished_at=r["finished_at"],
            item_count=int(r["item_count"] or 0),
            task_count=int(r["task_count"] or 0),
            tasks_failed=int(r["tasks_failed"] or 0),
            pages=int(r["pages"] or 0),
        )
        for r in rows
    ]


def failing_streak(db: Database, schedule_id: int, length: int) -> tuple[int, int] | None:
    """(id of the run whose failure made ``length`` in a row, failures in a row now) for a schedule whose
    runs since its last finished one include at least ``length`` failures; None otherwise.

    Cancelled, skipped and missed runs neither break a streak nor lengthen it. The first run is
    the same for as long as the streak lasts, which is what makes it one event.
    """
    with db.transaction() as cur:
        last_ok = cur.execute(
            "SELECT MAX(id) AS id FROM job_runs WHERE schedule_id = %s AND status = 'finished'", (schedule_id,)
        ).fetchone()
        after = int(last_ok["id"]) if last_ok and last_ok["id"] is not None else 0
        reached = cur.execute(
            "SELECT id FROM job_runs WHERE schedule_id = %s AND status = 'failed' AND id > %s"
            " ORDER BY id LIMIT 1 OFFSET %s",
            (schedule_id, after, max(0, length - 1)),
        ).fetchone()
        if reached is None:
            return None
        count = cur.execute(
            "SELECT COUNT(*) AS n FROM job_runs WHERE schedule_id = %s AND status = 'failed' AND id > %s",
            (schedule_id, after),
        ).fetchone()
    return int(reached["id"]), int(count["n"])


def scheduled_spiders(db: Database) -> list[str]:
    """Spiders named by schedules or by runs of the last ones (whose dead letters are worth watching)."""
    with db.transaction() as cur:
        rows = cur.execute(
            "SELECT spider FROM schedules UNION SELECT spider FROM job_runs WHERE id > ("
            " SELECT COALESCE(MAX(id), 0) - 1000 FROM job_runs)"
        ).fetchall()
    return sorted({r["spider"] for r in rows if r["spider"] and r["spider"] != "*"})


# -- deliveries ----------------------------------------------------------------------------


def due_deliveries(db: Database, destination: str, *, now: datetime, limit: int = 20) -> list[DueDelivery]:
    """Pending deliveries to ``destination`` whose time has come and that nobody holds, oldest first."""
    with db.transaction() as cur:
        rows = cur.execute(
            "SELECT d.id, d.event_id, a.type, d.destination, d.attempts, a.payload"
            " FROM alert_deliveries d JOIN alerts a ON a.event_id = d.event_id"
            " WHERE d.destination = %s AND d.status = 'pending' AND d.next_attempt_at <= %s"
            " AND (d.leased_until IS NULL OR d.leased_until <= %s)"
            " ORDER BY d.next_attempt_at, d.id LIMIT %s",
            (destination, now, now, limit),
        ).fetchall()
    return [
        DueDelivery(
            id=int(r["id"]),
            event_id=r["event_id"],
            type=r["type"],
            destination=r["destination"],
            attempts=int(r["attempts"]),
            payload=db.json_value(r["payload"]),
        )
        for r in rows
    ]


def next_due_at(db: Database, destination: str) -> datetime | None:
    """When the next pending delivery to ``destination`` falls due (a held one: when its lease ends)."""
    with db.transaction() as cur:
        row = cur.execute(
            "SELECT MIN(CASE WHEN leased_until IS NULL THEN next_attempt_at END) AS free,"
            " MIN(leased_until) AS held FROM alert_deliveries WHERE destination = %s AND status = 'pending'",
            (destination,),
        ).fetchone()
    found = [_as_time(row[k]) for k in ("free", "held") if row and row[k] is not None]
    return min(found) if found else None


def lease_delivery(db: Database, delivery_id: int, *, now: datetime, until: datetime) -> int | None:
    """Take a due delivery for one attempt, until ``until``; the attempt's number, or None if another
    daemon holds it, it was delivered meanwhile or it is not due."""
    with db.transaction() as cur:
        row = cur.execute(
            "UPDATE alert_deliveries SET attempts = attempts + 1, leased_until = %s"
            " WHERE id = %s AND status = 'pending' AND next_attempt_at <= %s"
            " AND (leased_until IS NULL OR leased_until <= %s) RETURNING attempts",
            (until, delivery_id, now, now),
        ).fetchone()
    return None if row is None else int(row["attempts"])


def delivery_succeeded(db: Database, delivery_id: int, *, at: datetime) -> None:
    with db.transaction() as cur:
        cur.execute(
            "UPDATE alert_deliveries SET status = 'delivered', delivered_at = %s, leased_until = NULL"
            " WHERE id = %s AND status = 'pending'",
            (at, delivery_id),
        )


def delivery_failed(db: Database, delivery_id: int, *, error: str, retry_at: datetime | None) -> None:
    """Record a failed attempt: tried again at ``retry_at``, or given up (``failed``) when None."""
    with db.transaction() as cur:
        if retry_at is None:
            cur.execute(
                "UPDATE alert_deliveries SET status = 'failed', last_error = %s, leased_until = NULL"
                " WHERE id = %s AND status = 'pending'",
                (error, delivery_id),
            )
        else:
            cur.execute(
                "UPDATE alert_deliveries SET last_error = %s, next_attempt_at = %s, leased_until = NULL"
                " WHERE id = %s AND status = 'pending'",
                (error, retry_at, delivery_id),
            )


# -- reading back (the console, the API, metrics) -----------------------------------------------


def recent_alerts(
    db: Database, *, limit: int = 20, type: str | None = None, before_id: int | None = None
) -> list[Alert]:
    """Newest first, each with its deliveries; ``before_id`` pages back (the ``id`` of the last one shown)."""
    where, params = [], []
    if type is not None:
        where.append("type = %s")
        params.append(type)
    if before_id is not None:
        where.append("id < %s")
        params.append(int(before_id))
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    params.append(max(0, int(limit)))
    with db.transaction() as cur:
        rows = cur.execute(
            f"SELECT id, event_id, type, payload, created_at FROM alerts {clause} ORDER BY id DESC LIMIT %s", params
        ).fetchall()
        alerts = [
            Alert(int(r["id"]), r["event_id"], r["type"], db.json_value(r["payload"]), r["created_at"]) for r in rows
        ]
        if alerts:
            marks = ", ".join(["%s"] * len(alerts))
            deliveries = cur.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM alert_deliveries d JOIN alerts a ON a.event_id = d.event_id"
                f" WHERE d.event_id IN ({marks}) ORDER BY d.id",
                [a.event_id for a in alerts],
            ).fetchall()
            by_event = {a.event_id: a for a in alerts}
            for row in deliveries:
                by_event[row["event_id"]].deliveries.append(_delivery(row))
    return alerts


def recent_deliveries(db: Database, *, limit: int = 20, status: str | None = None) -> list[Delivery]:
    """Newest first; ``status`` one of :data:`DELIVERY_STATUSES`."""
    where, params = "", []
    if status is not None:
        where, params = "WHERE d.status = %s", [status]
    params.append(max(0, int(limit)))
    with db.transaction() as cur:
        rows = cur.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM alert_deliveries d JOIN alerts a ON a.event_id = d.event_id"
            f" {where} ORDER BY d.id DESC LIMIT %s",
            params,
        ).fetchall()
    return [_delivery(r) for r in rows]


def delivery_counts(db: Database) -> dict[str, int]:
    """Deliveries by outcome, every outcome of :data:`OUTCOMES` present (for the ``alert deliveries`` metric):
    ``pending`` (not tried yet), ``retrying`` (a try failed, another is due), ``delivered``, ``failed``
    (given up)."""
    counts = dict.fromkeys(OUTCOMES, 0)
    with db.transaction() as cur:
        rows = cur.execute(
            "SELECT CASE WHEN status = 'pending' AND attempts > 0 THEN 'retrying' ELSE status END AS outcome,"
            " COUNT(*) AS n FROM alert_deliveries GROUP BY 1"
        ).fetchall()
    for row in rows:
        counts[row["outcome"]] = int(row["n"])
    return counts


def delete_alerts_before(db: Database, before: datetime) -> int:
    """Forget alerts raised before ``before`` whose deliveries are settled (for retention)."""
    with db.transaction() as cur:
        return cur.execute(
            "DELETE FROM alerts WHERE created_at < %s AND NOT EXISTS ("
            " SELECT 1 FROM alert_deliveries d WHERE d.event_id = alerts.event_id AND d.status = 'pending')",
            (before,),
        ).rowcount


def _as_time(value: Any) -> datetime:
    # SQLite hands back an aggregate's timestamp as text.
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _delivery(row: dict[str, Any]) -> Delivery:
    return Delivery(
        id=int(row["id"]),
        event_id=row["event_id"],
        type=row["type"],
        destination=row["destination"],
        status=row["status"],
        attempts=int(row["attempts"]),
        last_error=row["last_error"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        delivered_at=row["delivered_at"],
    )
