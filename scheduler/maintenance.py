"""The daily maintenance run: retention, applied by the leading daemon, recorded in ``job_runs``.

Once a day at ``SCRAPERQ_RETENTION_AT`` (``HH:MM``, in ``SCRAPERQ_RETENTION_TIMEZONE``,
default 03:30 UTC) the leader makes the day partitions ahead of need and applies
``SCRAPERQ_RETENTION_DAYS`` (``scraperq.retention``), archiving to
``SCRAPERQ_ARCHIVE_URL`` first when it is set. The run is a ``job_runs`` row of
origin ``maintenance`` and spider ``*``: ``running`` while it works, then
``finished`` with its counts (``item_count`` results, ``task_count`` tasks, and
its summary as ``finish_reason``) or ``failed`` with the reason, which the
alerting reports as ``maintenance.failed``. The row's job id,
``maintenance-DAY``, is unique, so a day's run happens once across restarts and
daemons. It runs in a thread of its own: firing schedules does not wait for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scraperq import retention
from scraperq.archive.stores import ArchiveStore, open_store
from scraperq.errors import ConfigError, first_line
from scraperq.storage import partitions
from scraperq.storage.connection import Database

logger = logging.getLogger(__name__)

ORIGIN = "maintenance"


@dataclass(frozen=True)
class MaintenanceConfig:
    days: int = retention.DEFAULT_DAYS
    at: time = time(3, 30)
    timezone: str = "UTC"
    archive_url: str | None = None
    endpoint_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> MaintenanceConfig:
        days = retention.parse_days(settings.get("SCRAPERQ_RETENTION_DAYS", retention.DEFAULT_DAYS))
        raw = str(settings.get("SCRAPERQ_RETENTION_AT") or "03:30").strip()
        try:
            at = time.fromisoformat(raw)
        except ValueError:
            raise ConfigError(f"SCRAPERQ_RETENTION_AT={raw!r} is not a time of day such as 03:30") from None
        zone = str(settings.get("SCRAPERQ_RETENTION_TIMEZONE") or "UTC").strip()
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"SCRAPERQ_RETENTION_TIMEZONE={zone!r} is not a known time zone") from None
        return cls(
            days=days,
            at=at,
            timezone=zone,
            archive_url=settings.get("SCRAPERQ_ARCHIVE_URL") or None,
            endpoint_url=settings.get("SCRAPERQ_ARCHIVE_ENDPOINT_URL") or None,
        )

    def due_time(self, now: datetime) -> datetime:
        """Today's run time in the configured zone (a time skipped by a DST change runs right after it)."""
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        moment = datetime.combine(local.date(), self.at, tzinfo=zone)
        return moment.astimezone(now.tzinfo) if now.tzinfo else moment


class Maintenance:
    def __init__(
        self,
        db: Database,
        config: MaintenanceConfig,
        *,
        clock: Callable[[], datetime],
        store: ArchiveStore | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self.store = store
        self._thread: threading.Thread | None = None

    def _store(self) -> ArchiveStore | None:
        if self.store is None and self.config.archive_url:
            self.store = open_store(self.config.archive_url, endpoint_url=self.config.endpoint_url)
        return self.store

    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def seconds_until_due(self, now: datetime) -> float:
        due = self.config.due_time(now)
        if due <= now:
            due = self.config.due_time(now + timedelta(days=1))
        return max(0.0, (due - now).total_seconds())

    def tick(self, now: datetime, *, background: bool = True) -> int | None:
        """Start today's run if it is due and not yet recorded; the run's id."""
        due = self.config.due_time(now)
        if now < due or self.busy():
            return None
        run_id = self._claim(due, now)
        if run_id is None:
            return None
        if background:
            self._thread = threading.Thread(target=self.run, args=(run_id,), name="maintenance", daemon=True)
            self._thread.start()
        else:
            self.run(run_id)
        return run_id

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _claim(self, due: datetime, now: datetime) -> int | None:
        day = due.astimezone(ZoneInfo(self.config.timezone)).date().isoformat()
        with self.db.transaction() as cur:
            # An earlier day's run still "running" died with its daemon: say so (and raise its alert).
            cur.execute(
                "UPDATE job_runs SET status = 'failed', finished_at = %s,"
                " error = 'interrupted: the daemon running it stopped; the next run resumes it'"
                " WHERE origin = %s AND status = 'running' AND scrapyd_job_id <> %s",
                (now, ORIGIN, f"maintenance-{day}"),
            )
            row = cur.execute(
                "INSERT INTO job_runs (spider, scrapyd_job_id, status, fire_time, origin, created_at, started_at)"
                " VALUES ('*', %s, 'running', %s, %s, %s, %s)"
                " ON CONFLICT (scrapyd_job_id) DO NOTHING RETURNING id",
                (f"maintenance-{day}", due, ORIGIN, now, now),
            ).fetchone()
        return None if row is None else int(row["id"])

    def run(self, run_id: int) -> None:
        """One maintenance run, recorded in its row whatever happens."""
        try:
            now = self.clock()
            partitions.ensure_partitions(self.db, today=partitions.day_of(now))
            cutoffs = retention.retention_cutoffs(self.db, self.config.days, now)
            report = retention.apply(self.db, cutoffs, store=self._store(), job_runs=True, keep_run=run_id)
        except Exception as exc:  # recorded, alerted on (maintenance.failed), and tried again tomorrow
            logger.error("The maintenance run failed: %s", first_line(exc))
            self._finish(run_id, "failed", error=first_line(exc))
            return
        self._finish(run_id, "finished", summary=report.summary(), results=report.results, tasks=report.tasks)

    def _finish(
        self, run_id: int, status: str, *, error: str | None = None, summary: str | None = None, **counts: int
    ) -> None:
        with self.db.transaction() as cur:
            cur.execute(
                "UPDATE job_runs SET status = %s, error = %s, finish_reason = %s, finished_at = %s,"
                " item_count = %s, task_count = %s WHERE id = %s",
                (status, error, summary, self.clock(), counts.get("results", 0), counts.get("tasks", 0), run_id),
            )
