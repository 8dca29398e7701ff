"""Cron meaning checked against croniter, the reference the field uses, over random expressions.

Hypothesis writes five-field expressions (values, names, ranges, lists, steps,
weekday 7, both day fields restricted) and nicknames, and picks a zone and a
start instant, half of them in the week around a DST change. The first fire
times after the start must be croniter's, but for the one difference the DST
policy documents (``scheduler/cron.py``):

    croniter fires a schedule pinned to hours (an hour field that leaves out
    some hour) in both passes of a repeated wall-clock time; scraperq fires
    it in the first pass only.

So croniter's answers are taken, those of them that are the second pass of a
repeated local time are dropped when the expression is pinned to hours, and
what remains must equal scraperq's answers exactly. Nothing else is excused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scheduler.cron import MONTHS, NICKNAMES, WEEKDAYS, parse_cron
from scheduler.triggers import cron_trigger

ZONES = ("America/New_York", "Europe/Berlin", "Asia/Seoul", "Australia/Lord_Howe", "UTC")
FIRE_TIMES = 6


def transitions(zone: ZoneInfo, years: range) -> list[datetime]:
    """Every instant the zone's UTC offset changes in those years (found hour by hour, then to the minute)."""
    found = []
    moment = datetime(years.start, 1, 1, tzinfo=UTC)
    end = datetime(years.stop, 1, 1, tzinfo=UTC)
    while moment < end:
        after = moment + timedelta(hours=1)
        if moment.astimezone(zone).utcoffset() != after.astimezone(zone).utcoffset():
            low = moment
            while after - low > timedelta(minutes=1):
                middle = low + (after - low) / 2
                if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                    low = middle
                else:
                    after = middle
            found.append(after.replace(second=0, microsecond=0))
        moment += timedelta(hours=1)
    return found


CHANGES = {name: transitions(ZoneInfo(name), range(2025, 2029)) for name in ZONES}


def field(low: int, high: int, names: tuple[str, ...] = (), first_name: int = 0) -> st.SearchStrategy[str]:
    def value(v: int) -> st.SearchStrategy[str]:
        options = [st.just(str(v))]
        if names and first_name <= v < first_name + len(names):
            options.append(st.just(names[v - first_name].lower() if v % 2 else names[v - first_name]))
        return st.one_of(options)

    number = st.integers(low, high)
    single = number.flatmap(value)
    # Ranges of two or more values: croniter 7.0 reads a one-value range wrongly ("0 0 1-1 * *" fires on
    # the 2nd as well), and that is the reference's bug, not a meaning to match.
    pairs = st.tuples(number, number).filter(lambda ab: ab[0] != ab[1]).map(sorted)
    ranged = pairs.flatmap(lambda ab: st.tuples(value(ab[0]), value(ab[1])))
    step = st.integers(1, max(1, high - low))
    item = st.one_of(
        single,
        ranged.map(lambda ab: f"{ab[0]}-{ab[1]}"),
        st.tuples(ranged, step).map(lambda x: f"{x[0][0]}-{x[0][1]}/{x[1]}"),
        step.map(lambda s: f"*/{s}"),
        # "N/step" from below the field's last value (croniter 7.0 reads "7/1" in day-of-week as every day).
        st.tuples(st.integers(low, min(high, 6 if names == WEEKDAYS else high) - 1).flatmap(value), step).map(
            lambda x: f"{x[0]}/{x[1]}"
        ),
    )
    return st.one_of(
        st.just("*"),
        item,
        st.lists(item, min_size=2, max_size=3).map(",".join),
    )


EXPRESSIONS = st.one_of(
    st.tuples(
        field(0, 59),
        field(0, 23),
        field(1, 31),
        field(1, 12, MONTHS, 1),
        field(0, 7, WEEKDAYS, 0),
    ).map(" ".join),
    st.sampled_from(sorted(NICKNAMES)),
)


@st.composite
def starts(draw: st.DrawFn, zone: str) -> datetime:
    if draw(st.booleans()):  # the week around one of the zone's DST changes
        change = draw(st.sampled_from(CHANGES[zone] or [datetime(2026, 3, 8, 7, tzinfo=UTC)]))
        return change + timedelta(seconds=draw(st.integers(-4 * 86400, 4 * 86400)))
    return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 4 * 365 * 86400)))


def second_pass(moment: datetime) -> bool:
    """True when ``moment`` (aware, local) is the later of two instants showing the same wall-clock time."""
    return moment.fold == 1 and moment.replace(fold=0).utcoffset() != moment.utcoffset()


def reference(expression: str, zone: str, start: datetime, count: int, pinned: bool) -> list[datetime]:
    """croniter's fire times after ``start``, less the repeated-hour second passes the policy drops."""
    times = croniter(expression, start.astimezone(ZoneInfo(zone)))
    wanted: list[datetime] = []
    for _ in range(count * 3):
        moment = times.get_next(datetime)
        if pinned and second_pass(moment):
            continue
        wanted.append(moment.astimezone(UTC))
        if len(wanted) == count:
            break
    return wanted


def ours(expression: str, zone: str, start: datetime, count: int) -> list[datetime]:
    fire_times = cron_trigger(expression, zone)
    found: list[datetime] = []
    moment: datetime | None = start
    while len(found) < count:
        moment = fire_times.next_after(moment)
        if moment is None:
            break
        found.append(moment)
    return found


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), expression=EXPRESSIONS, zone=st.sampled_from(ZONES))
def test_fire_times_are_croniters_but_for_the_documented_dst_policy(
    data: st.DataObject, expression: str, zone: str
) -> None:
    start = data.draw(starts(zone)).replace(microsecond=0)
    spec = parse_cron(expression)
    # Expressions that fire on a few days a decade (the 31st of a 30-day month and the like) say
    # little about cron's meaning and take long to walk: keep to ones that fire at least yearly.
    assume(spec.weekdays_restricted or any(day <= 28 or month != 2 for day in spec.days for month in spec.months))
    assume(spec.weekdays_restricted or min(spec.days) <= 30 or bool(spec.months & {1, 3, 5, 7, 8, 10, 12}))

    expected = reference(expression, zone, start, FIRE_TIMES, spec.pinned_to_hours)

    assert ours(expression, zone, start, FIRE_TIMES) == expected


@pytest.mark.parametrize(
    ("expression", "weekday_names"),
    [
        # The examples users get wrong under other numberings: checked by name, not by reference.
        ("30 9 * * 1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("0 0 * * 0", ["Sun"]),
        ("0 0 * * 7", ["Sun"]),
        ("0 0 * * MON-FRI", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("@weekly", ["Sun"]),
    ],
)
def test_weekday_numbers_and_names_mean_what_cron_means(expression: str, weekday_names: list[str]) -> None:
    times = ours(expression, "America/New_York", datetime(2026, 3, 2, 12, tzinfo=UTC), 14)

    days = {t.astimezone(ZoneInfo("America/New_York")).strftime("%a") for t in times}
    assert days == set(weekday_names)
