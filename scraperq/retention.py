"""Retention: archive, then delete, finished tasks, their results and old job runs, a day at a time.

``scraperq purge`` and the scheduler daemon's daily maintenance run both come
here. Days go oldest first; each day is archived spider by spider (when an
archive is set), each archive written and verified before any row of that day
is deleted, and then exactly the archived rows are deleted (a whole partition
dropped on PostgreSQL when they are all it holds). A failure stops the run with
the days before it done and the rest untouched; the next run starts again from
the oldest day left, merging with what it finds archived.

``SCRAPERQ_RETENTION_DAYS`` (default 7; 0 keeps everything) is how many days are
kept: a day is deleted once it is wholly older than that. A spider keeps its
rows longer when a schedule of it says so in its settings (``scraperq schedule
add ... --setting SCRAPERQ_RETENTION_DAYS=30``); the longest of these wins, and 0
among them keeps the spider's rows for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from scraperq.archive.days import write_day
from scraperq.archive.stores import ArchiveStore
from scraperq.storage import partitions, purge
from scraperq.storage.connection import Database
from scraperq.storage.purge import Cutoffs

logger = logging.getLogger(__name__)

SETTING = "SCRAPERQ_RETENTION_DAYS"
DEFAULT_DAYS = 7


def parse_days(value: object, where: str = SETTING) -> int:
    from scraperq.errors import ConfigError

    try:
        days = int(str(value).strip())
    except (TypeError, ValueError):
        raise ConfigError(f"{where}={value!r} is not a whole number of days") from None
    if days < 0:
        raise ConfigError(f"{where}={value!r} must be 0 (keep for ever) or more")
    return days


def day_cutoff(days: int, now: datetime) -> datetime | None:
    """The start of the oldest day kept: days wholly older than ``days`` go. None for 0 (kept for ever)."""
    if days == 0:
        return None
    return partitions.day_start(partitions.day_of(now - timedelta(days=days)))


def spider_overrides(db: Database) -> dict[str, int]:
    """Per spider, the longest retention its schedules' settings ask for (0 = for ever)."""
    found: dict[str, list[int]] = {}
    with db.transaction() as cur:
        for row in cur.execute("SELECT spider, settings FROM schedules").fetchall():
            settings = db.json_value(row["settings"]) or {}
            if SETTING in settings:
                found.setdefault(row["spider"], []).append(parse_days(settings[SETTING], f"{SETTING} of a schedule"))
    return {spider: (0 if 0 in values else max(values)) for spider, values in found.items()}


def retention_cutoffs(db: Database, default_days: int, now: datetime) -> Cutoffs:
    overrides = spider_overrides(db)
    # An override only ever keeps rows longer than the default.
    longer = {s: d for s, d in overrides.items() if d == 0 or (default_days != 0 and d > default_days)}
    return Cutoffs(day_cutoff(default_days, now), {s: day_cutoff(d, now) for s, d in longer.items()})


@dataclass
class Report:
    tasks: int = 0
    results: int = 0
    job_runs: int = 0
    days: list[date] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)  # keys of the archive objects written
    partitions_dropped: int = 0

    def summary(self) -> str:
        archived = f", {len(self.archived)} archives written" if self.archived else ""
        dropped = f", {self.partitions_dropped} partitions dropped" if self.partitions_dropped else ""
        return (
            f"{self.tasks} tasks, {self.results} results and {self.job_runs} job runs deleted"
            f" over {len(self.days)} days{archived}{dropped}"
        )


def apply(
    db: Database,
    cutoffs: Cutoffs,
    *,
    store: ArchiveStore | None = None,
    job_runs: bool = False,
    keep_run: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Archive (with a store) and delete what ``cutoffs`` let go; ``progress`` is told of results done."""
    report = Report()
    task_ids: set[int] = set()  # archived, to be deleted once no result of theirs is left
    for day in purge.days_to_purge(db, cutoffs):
        day_results: list[int] = []
        for spider in purge.spiders_of_day(db, day, cutoffs):
            if store is not None:
                archived = write_day(db, store, day, spider, cutoffs)
                report.archived.append(archived.key)
                day_results.extend(archived.result_ids)
                task_ids.update(archived.task_ids)
            else:
                day_results.extend(int(r["id"]) for r in purge.iter_day_results(db, day, spider, cutoffs))
                task_ids.update(int(r["id"]) for r in purge.iter_day_tasks(db, day, spider, cutoffs))
        deleted = purge.delete_day(db, day, day_results)
        report.results += deleted.results
        report.partitions_dropped += deleted.dropped_partition is not None
        if day_results or deleted.results:
            report.days.append(day)
        # Tasks go as soon as they can: a later day must not take a task whose results went for one without.
        gone = purge.delete_tasks(db, task_ids, cutoffs) if task_ids else set()
        report.tasks += len(gone)
        task_ids -= gone
        if progress is not None:
            progress(deleted.results)
    if purge.drop_empty_past(db, cutoffs.latest):
        report.partitions_dropped += 1
    if job_runs:
        report.job_runs = purge.delete_job_runs(db, cutoffs, keep=keep_run)
    logger.info("Retention: %s", report.summary())
    return report
