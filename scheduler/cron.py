"""Cron expressions as cron reads them, and their fire times in a time zone.

Syntax (five fields: minute, hour, day of month, month, day of week), read as
croniter and Kubernetes CronJobs read it:

* each field is ``*``, a value, a range ``1-5``, a step ``*/15``, ``10-50/20`` or
  ``5/15`` (from 5 to the field's end), or a comma-separated list of those;
* months may be written ``JAN``-``DEC`` and weekdays ``SUN``-``SAT`` (any case);
  weekday numbers run 0-7, where 0 and 7 are both Sunday;
* when both day fields are restricted (neither is ``*``), a day matching either
  one fires: ``0 0 1 * 1`` runs on the 1st and on every Monday, ``0 0 */2 * 1``
  on odd days and on Mondays (:func:`_restricts` has the one subtlety);
* nicknames: ``@yearly`` and ``@annually`` (``0 0 1 1 *``), ``@monthly``
  (``0 0 1 * *``), ``@weekly`` (``0 0 * * 0``), ``@daily`` and ``@midnight``
  (``0 0 * * *``), ``@hourly`` (``0 * * * *``).

Anything else (a sixth field, ``L``, ``W``, ``#``, ``?``, ``@reboot``) is refused
with a one-line reason naming the field.

Daylight saving time, the one policy of the project (the README and the API
description say the same):

* A schedule *pinned to hours* (an hour field that does not select all 24
  hours) is read in wall-clock time. When clocks go forward, its fire times in
  the skipped interval run once, at the first instant after the change (in New
  York on 8 March 2026, ``30 2 * * *`` runs at 03:00 EDT); when clocks go back,
  it runs once, in the first pass of the repeated hour.
* A schedule whose hour field is ``*`` runs in real time: every real instant
  whose local time matches. Local times that do not exist do not fire (the run
  before and the run after are an hour apart, as every other hour), and in the
  repeated hour it fires on both passes, an hour apart in real time.

Fire times are computed by cronsim (Debian cron's own DST handling, which is
this policy for pinned schedules); the fields are parsed here, so that their
meaning, day-of-week numbering and the day-of-month/day-of-week rule are
croniter's, and handed to cronsim spelled out. ``tests/test_cron_reference.py``
compares thousands of random expressions with croniter across DST changes;
the only differences it allows are the second pass of a repeated hour for
pinned schedules (croniter fires twice).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from scraperq.errors import BadInput

NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    first_name_value: int = 0


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, MONTHS, 1),
    _Field("day-of-week", 0, 7, WEEKDAYS, 0),
)
_ITEM = re.compile(r"^(?:(\*)|([A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?)(?:/(\d+))?$")
_SYNTAX = "use *, numbers, names, ranges (1-5), lists (1,15) and steps (*/10)"
# cronsim gives up after 50 years; a schedule that does not fire within 8 is refused.
HORIZON = timedelta(days=366 * 8)


@dataclass(frozen=True)
class CronSpec:
    """A parsed expression: the values each field selects, and how the day fields combine."""

    expression: str  # as written, whitespace normalised
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday
    days_restricted: bool  # the day-of-month field is not "*"
    weekdays_restricted: bool  # the day-of-week field is not "*"

    @property
    def pinned_to_hours(self) -> bool:
        """Whether the hour field leaves out some hour: such schedules keep wall-clock time across DST."""
        return len(self.hours) < 24

    def cronsim_expression(self) -> str:
        """The same schedule spelled out for cronsim (whose ``*`` rules would otherwise differ)."""

        def listed(values: frozenset[int]) -> str:
            return ",".join(str(v) for v in sorted(values))

        hours = listed(self.hours) if self.pinned_to_hours else "*"
        days = listed(self.days) if self.days_restricted else "*"
        weekdays = listed(self.weekdays) if self.weekdays_restricted else "*"
        months = "*" if len(self.months) == 12 else listed(self.months)
        # An explicit minute list (never "*") is what makes cronsim apply wall-clock DST handling
        # to a schedule pinned to hours, whatever its minute field was written as.
        return f"{listed(self.minutes)} {hours} {days} {months} {weekdays}"


def normalise(expression: str) -> str:
    return " ".join((expression or "").split())


def parse_cron(expression: str) -> CronSpec:
    """The expression's meaning, or :class:`BadInput` naming the field and what is wrong with it."""
    text = normalise(expression)
    shown = f"invalid cron expression {text!r}"
    if text.startswith("@"):
        if text.lower() not in NICKNAMES:
            raise BadInput(f"{shown}: unknown nickname; use one of {', '.join(NICKNAMES)}")
        fields = NICKNAMES[text.lower()].split()
    else:
        fields = text.split()
    if len(fields) != 5:
        raise BadInput(
            f"{shown}: it has {len(fields)} fields; cron has five: minute hour day-of-month month day-of-week"
        )
    values = []
    for raw, field in zip(fields, _FIELDS, strict=True):
        try:
            values.append(_parse_field(raw, field))
        except ValueError as exc:
            raise BadInput(f"{shown}: {field.name} field {raw!r}: {exc}") from None
    minutes, hours, days, months, weekdays = values
    weekdays = frozenset(v % 7 for v in weekdays)  # 7 is Sunday too
    return CronSpec(
        expression=text,
        minutes=minutes,
        hours=hours,
        days=days,
        months=months,
        weekdays=weekdays,
        days_restricted=_restricts(fields[2], days, 31, other=fields[4]),
        weekdays_restricted=_restricts(fields[4], weekdays, 7, other=fields[2]),
    )


def _restricts(text: str, values: frozenset[int], every: int, *, other: str) -> bool:
    """Whether a day field restricts the days, which decides whether the two day fields combine by OR.

    ``*`` never does. A field that selects every day (``1-31``, ``0-6``, ``*/1``) does not
    either when the other day field is written with a star: ``*/4 * 0-6`` is every fourth
    day, as croniter reads it (and Debian's cron, which treats any field starting with
    ``*`` that way); beside a field without a star it is a restriction that every day meets.
    """
    if text == "*":
        return False
    return not (len(values) == every and "*" in other)


def _parse_field(raw: str, field: _Field) -> frozenset[int]:
    selected: set[int] = set()
    for item in raw.split(","):
        match = _ITEM.match(item)
        if not match:
            raise ValueError(_SYNTAX)
        star, first, end, step_text = match.groups()
        step = 1
        if step_text is not None:
            step = int(step_text)
            if step < 1:
                raise ValueError("a step must be 1 or more")
        # Weekday 7 is only another name for Sunday: "*" and "N/step" end at Saturday, as croniter reads them.
        last = 6 if field.name == "day-of-week" else field.high
        if star:
            low, high = field.low, last
        else:
            low = _value(first, field)
            if end is not None:
                high = _value(end, field)
                if high < low:
                    raise ValueError(f"the range {first}-{end} runs backwards")
            else:
                high = last if step_text is not None else low
        selected.update(range(low, high + 1, step))
    return frozenset(selected)


def _value(text: str, field: _Field) -> int:
    upper = text.upper()
    if upper in field.names:
        return field.names.index(upper) + field.first_name_value
    if not text.isdigit():
        allowed = f" or names {field.names[0]}-{field.names[-1]}" if field.names else ""
        raise ValueError(f"{text!r} is not a number from {field.low} to {field.high}{allowed}")
    value = int(text)
    if not field.low <= value <= field.high:
        raise ValueError(f"{value} is out of range: use {field.low}-{field.high}")
    return value


@dataclass(frozen=True)
class CronTimes:
    """Fire times of a cron expression in a time zone (see the module docstring for DST)."""

    spec: CronSpec
    zone: ZoneInfo

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after ``after``, in UTC, whole seconds (None: never again)."""
        after = after.astimezone(UTC).replace(microsecond=0)
        try:
            times = CronSim(self.spec.cronsim_expression(), after.astimezone(self.zone))
        except CronSimError:
            return None
        # Started in the second pass of a repeated hour, wall-clock iteration can name a time of the
        # first pass, which is already over: such answers are passed by, never returned.
        for _ in range(10):
            try:
                found = next(times).astimezone(UTC)
            except StopIteration:
                return None
            if found > after:
                return found
        return None  # pragma: no cover - ten answers in the past would be a cronsim bug


def cron_times(expression: str, timezone: str) -> CronTimes:
    """Parse and check: :class:`BadInput` for a bad expression, a bad zone or one that never fires."""
    spec = parse_cron(expression)
    try:
        zone = ZoneInfo(timezone)
    except (ValueError, LookupError):
        raise BadInput(f"unknown time zone {timezone!r}: use an IANA name like Europe/Berlin or Asia/Seoul") from None
    times = CronTimes(spec, zone)
    try:
        CronSim(spec.cronsim_expression(), datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError:
        raise BadInput(f"cron expression {spec.expression!r} never fires (no month has that day)") from None
    return times


def check_fires(times: CronTimes, now: datetime) -> datetime:
    """The first fire time after ``now``; :class:`BadInput` if there is none within eight years."""
    first = times.next_after(now)
    if first is None or first - now > HORIZON:
        raise BadInput(f"cron expression {times.spec.expression!r} never fires")
    return first
