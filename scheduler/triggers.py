"""Fire times of a schedule: cron in its time zone (:mod:`scheduler.cron`) or a fixed interval.

The daemon asks one question of a schedule, "the first fire time after T", with
T taken from the database, and builds everything else from it: catch-up after
an outage, the latest fire time before now, the next run to store. Answers are
UTC instants in whole seconds, and for a given schedule they come from one
fixed set of fire times, whatever T is asked: so "the latest fire time before
now" and catch-up only ever name real fire times, DST changes included (the
policy is in :mod:`scheduler.cron`).

Intervals are elapsed time, phased on an anchor (the schedule's creation):
``anchor + k * seconds`` for k = 0, 1, 2, ...; DST does not touch them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from scheduler.cron import CronTimes, check_fires, cron_times
from scraperq.storage.schedules import Schedule

_SECOND = timedelta(seconds=1)


class FireTimes(Protocol):
    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after ``after``, in UTC (None: never again)."""


@dataclass(frozen=True)
class IntervalTimes:
    seconds: int
    anchor: datetime  # UTC, whole seconds

    def next_after(self, after: datetime) -> datetime:
        elapsed = int((after.astimezone(UTC) - self.anchor).total_seconds() // 1)
        steps = 0 if elapsed < 0 else elapsed // self.seconds + 1
        return self.anchor + timedelta(seconds=steps * self.seconds)


def between(fire_times: FireTimes, first: datetime, until: datetime, *, limit: int) -> list[datetime]:
    """Fire times from ``first`` (itself included if it is one) up to ``until``, at most ``limit``."""
    times: list[datetime] = []
    current = fire_times.next_after(first - _SECOND)
    while current is not None and current <= until and len(times) < limit:
        times.append(current)
        current = fire_times.next_after(current)
    return times


def latest_fire_time(fire_times: FireTimes, start: datetime, until: datetime) -> datetime | None:
    """The last fire time in ``[start, until]``, found in O(log n) steps (fire times are whole seconds)."""
    first = fire_times.next_after(start - _SECOND)
    if first is None or first > until:
        return None

    def more_after(moment: datetime) -> bool:
        found = fire_times.next_after(moment)
        return found is not None and found <= until

    low, high = first, until.replace(microsecond=0)
    if not more_after(low):
        return low  # the usual case: exactly one fire time is due
    # more_after(low) holds and more_after(high) does not; the answer is the first moment where it stops.
    while high - low > _SECOND:
        middle = low + timedelta(seconds=(high - low).total_seconds() // 2)
        if more_after(middle):
            low = middle
        else:
            high = middle
    return high


def cron_trigger(expression: str, timezone: str) -> CronTimes:
    """A checked cron expression in a time zone (:class:`~scraperq.errors.BadInput` if it is not one)."""
    return cron_times(expression, timezone)


def interval_trigger(seconds: int, anchor: datetime) -> IntervalTimes:
    """Every ``seconds``, in elapsed time, phased on ``anchor`` (whole seconds, so steps stay exact)."""
    return IntervalTimes(seconds, anchor.astimezone(UTC).replace(microsecond=0))


@functools.lru_cache(maxsize=4096)
def _cached(cron: str | None, timezone: str, interval_seconds: int | None, anchor: datetime) -> FireTimes:
    if cron is not None:
        return cron_trigger(cron, timezone)
    assert interval_seconds is not None
    return interval_trigger(interval_seconds, anchor)


def fire_times_for(schedule: Schedule) -> FireTimes:
    """The schedule's fire times; interval schedules are phased on their creation time."""
    return _cached(schedule.cron, schedule.timezone, schedule.interval_seconds, schedule.created_at)


def check_cron(expression: str, timezone: str, *, now: datetime) -> datetime:
    """Raise :class:`~scraperq.errors.BadInput` unless the expression fires; its first fire time after ``now``."""
    return check_fires(cron_trigger(expression, timezone), now)


def first_fire_time(
    *, cron: str | None, timezone: str, interval_seconds: int | None, anchor: datetime, after: datetime
) -> datetime | None:
    """The first fire time after ``after`` for a schedule with these values (for writers of schedules)."""
    if cron is not None:
        return cron_trigger(cron, timezone).next_after(after)
    assert interval_seconds is not None
    return interval_trigger(interval_seconds, anchor).next_after(after)
