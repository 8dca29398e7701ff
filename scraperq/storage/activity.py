"""Activity over time, counted from what is stored: the console's charts.

Each series is a list of buckets of equal width over a window that ends now:
items stored (rows in ``results``), pages stored (distinct URLs among them: a
page that yielded nothing is not counted, as nothing records it), tasks that
failed and job runs that failed (by their ``finished_at``), and the dispatch
latency of job runs (``dispatched_at - fire_time``, their mean per bucket).

Buckets are computed in the database (one grouped query per series, using the
indexed time column's range), so a window over millions of results reads no row
into Python; empty buckets are filled in here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from scraperq.storage.connection import Database, utcnow

SERIES = ("items", "pages", "failures", "dispatch_latency")


@dataclass(frozen=True)
class Activity:
    start: datetime  # the first bucket's start (UTC)
    bucket_seconds: int
    series: dict[str, list[float]]  # name -> one value per bucket, oldest first

    def as_dict(self) -> dict[str, object]:
        return {"start": self.start, "bucket_seconds": self.bucket_seconds, "series": self.series}


def _epoch(db: Database, column: str) -> str:
    if db.dialect == "postgresql":
        return f"EXTRACT(EPOCH FROM {column})"
    # julianday() reads the ISO text SQLite keeps (strftime's %s would clash with the placeholders).
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def activity(db: Database, *, window: timedelta, buckets: int, now: datetime | None = None) -> Activity:
    """The series over ``window`` (ending at ``now``), in ``buckets`` buckets."""
    now = now or utcnow()
    width = max(1, int(window.total_seconds()) // max(1, buckets))
    end_epoch = (int(now.timestamp()) // width + 1) * width  # the current bucket is the last one
    start_epoch = end_epoch - width * buckets
    start = datetime.fromtimestamp(start_epoch, now.tzinfo)
    out: dict[str, list[float]] = {name: [0.0] * buckets for name in SERIES}

    def grouped(sql_value: str, table: str, column: str, where: str = "") -> list[tuple[int, float]]:
        bucket = f"FLOOR(({_epoch(db, column)} - %s) / %s)"
        extra = f" AND {where}" if where else ""
        sql = (
            f"SELECT {bucket} AS b, {sql_value} AS v FROM {table}"
            f" WHERE {column} >= %s AND {column} < %s{extra} GROUP BY b"
        )
        end = datetime.fromtimestamp(end_epoch, now.tzinfo)
        with db.transaction() as cur:
            rows = cur.execute(sql, (start_epoch, width, start, end)).fetchall()
        return [(int(r["b"]), float(r["v"] or 0)) for r in rows if r["b"] is not None]

    def fill(name: str, pairs: list[tuple[int, float]]) -> None:
        for index, value in pairs:
            if 0 <= index < buckets:
                out[name][index] += value

    fill("items", grouped("COUNT(*)", "results", "scraped_at"))
    fill("pages", grouped("COUNT(DISTINCT url)", "results", "scraped_at"))
    fill("failures", grouped("COUNT(*)", "tasks", "finished_at", "status = 'failed'"))
    fill("failures", grouped("COUNT(*)", "job_runs", "finished_at", "status = 'failed'"))
    latency = f"AVG({_epoch(db, 'dispatched_at')} - {_epoch(db, 'fire_time')})"
    # Milliseconds are the precision that means something (SQLite's julianday() carries float noise below).
    fill(
        "dispatch_latency",
        [(b, round(v, 3)) for b, v in grouped(latency, "job_runs", "dispatched_at", "fire_time IS NOT NULL")],
    )
    return Activity(start=start, bucket_seconds=width, series=out)
