"""Fire-time arithmetic: APScheduler 3.x triggers, stepped one fire time at a time.

The daemon never hands jobs to an APScheduler scheduler (see ``scheduler.daemon``
for why); it asks a trigger for "the first fire time after T", with T taken from
the database. Two details make that exact:

* Steps are taken in UTC, whole seconds. Adding to an aware local time does
  wall-clock arithmetic and drops ``fold``, which walks a trigger back into the
  first pass of a repeated hour (an endless loop at a DST fall-back).
* In the hour that repeats when clocks go back, APScheduler yields a wall time
  on both passes. A cron whose hour field is ``*`` fires on both (they are an
  hour apart in real time); one pinned to hours (``30 1 * * *``) fires on the
  first pass only, as cron does, so a daily job never runs twice that night.
  In the hour skipped when clocks go forward, a wall time that does not exist
  fires at the same offset after the change (02:30 becomes 03:30), so no day
  goes without its run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from scraperq.errors import BadInput
from scraperq.storage.schedules import Schedule, check_timezone

_SECOND = timedelta(seconds=1)
# A cron expression that matches nothing for this long (e.g. 30 February) is refused.
_HORIZON = timedelta(days=366 * 8)


@dataclass(frozen=True)
class FireTimes:
    """A trigger and the rule for repeated wall-clock times."""

    trigger: BaseTrigger
    zone: ZoneInfo | None = None
    once_per_wall_time: bool = False

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after ``after``, in UTC (None: never again)."""
        start = after.astimezone(UTC).replace(microsecond=0) + _SECOND
        while True:
            found = self.trigger.get_next_fire_time(None, start)
            if found is None:
                return None
            found = found.astimezone(UTC)
            if not (self.once_per_wall_time and _second_pass(found, self.zone)):
                return found
            start = found + _SECOND

    def between(self, first: datetime, until: datetime, *, limit: int) -> list[datetime]:
        """Fire times from ``first`` (itself included if it is one) up to ``until``, at most ``limit``."""
        times: list[datetime] = []
        current = self.next_after(first - _SECOND)
        while current is not None and current <= until and len(times) < limit:
            times.append(current)
            current = self.next_after(current)
        return times


def _second_pass(moment: datetime, zone: ZoneInfo | None) -> bool:
    """True when ``moment`` is the second occurrence of a repeated local wall time."""
    if zone is None:
        return False
    local = moment.astimezone(zone)
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


def cron_trigger(expression: str, timezone: str) -> FireTimes:
    """Build and check a 5-field crontab trigger (minute hour day month weekday)."""
    check_timezone(timezone)
    zone = ZoneInfo(timezone)
    try:
        trigger = CronTrigger.from_crontab(expression.strip(), timezone=zone)
    except ValueError as exc:
        raise BadInput(f"invalid cron expression {expression!r}: {exc}") from None
    hour_field = expression.split()[1]
    return FireTimes(trigger, zone, once_per_wall_time=hour_field != "*")


def interval_trigger(seconds: int, anchor: datetime) -> FireTimes:
    """Every ``seconds``, in elapsed time, phased on ``anchor`` (whole seconds, so steps stay exact)."""
    start = anchor.astimezone(UTC).replace(microsecond=0)
    return FireTimes(IntervalTrigger(seconds=seconds, start_date=start, timezone=UTC))


@functools.lru_cache(maxsize=4096)
def _cached(cron: str | None, timezone: str, interval_seconds: int | None, anchor: datetime) -> FireTimes:
    if cron is not None:
        return cron_trigger(cron, timezone)
    assert interval_seconds is not None
    return interval_trigger(interval_seconds, anchor)


def fire_times_for(schedule: Schedule) -> FireTimes:
    """The schedule's trigger; interval schedules are phased on their creation time."""
    return _cached(schedule.cron, schedule.timezone, schedule.interval_seconds, schedule.created_at)


def check_cron(expression: str, timezone: str, *, now: datetime) -> datetime:
    """Raise :class:`BadInput` unless the expression fires; return its first fire time after ``now``."""
    first = cron_trigger(expression, timezone).next_after(now)
    if first is None or first - now > _HORIZON:
        raise BadInput(f"cron expression {expression!r} never fires")
    return first


def first_fire_time(
    *, cron: str | None, timezone: str, interval_seconds: int | None, anchor: datetime, after: datetime
) -> datetime | None:
    """The first fire time after ``after`` for a schedule with these values (for writers of schedules)."""
    if cron is not None:
        return cron_trigger(cron, timezone).next_after(after)
    assert interval_seconds is not None
    return interval_trigger(interval_seconds, anchor).next_after(after)
