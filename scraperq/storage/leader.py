"""The ``scheduler_leader`` row: which scheduler daemon leads, and when it last said so.

The leader writes it every heartbeat (``scheduler.leader``); anyone with the
database can then tell whether a daemon is there to act on a run request
(``scraperq schedule run`` from any machine). The lock itself is elsewhere (an
advisory lock on PostgreSQL, a file lock on SQLite): this row only reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from scraperq.storage.connection import Database


@dataclass(frozen=True)
class LeaderBeat:
    holder: str  # host:pid of the daemon
    heartbeat_at: datetime

    def fresh(self, now: datetime, *, within: float) -> bool:
        return now - self.heartbeat_at <= timedelta(seconds=within)


def beat(db: Database, holder: str, at: datetime) -> None:
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO scheduler_leader (id, holder, heartbeat_at) VALUES (1, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, heartbeat_at = excluded.heartbeat_at",
            (holder, at),
        )


def last_beat(db: Database) -> LeaderBeat | None:
    with db.transaction() as cur:
        row = cur.execute("SELECT holder, heartbeat_at FROM scheduler_leader WHERE id = 1").fetchone()
    return None if row is None else LeaderBeat(row["holder"], row["heartbeat_at"])
