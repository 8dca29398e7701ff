"""Fire times in named time zones, across DST changes, with the time given rather than waited for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.triggers import between, check_cron, cron_trigger, interval_trigger, latest_fire_time
from scraperq.errors import BadInput


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local_days(times: list[datetime], zone: str) -> list[str]:
    return [t.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M %Z") for t in times]


def test_midnight_in_seoul_is_three_in_the_afternoon_utc() -> None:
    fire_times = cron_trigger("0 0 * * *", "Asia/Seoul")

    assert fire_times.next_after(utc(2025, 1, 1, 14, 59, 59)) == utc(2025, 1, 1, 15, 0, 0)
    assert fire_times.next_after(utc(2025, 1, 1, 15, 0, 0)) == utc(2025, 1, 2, 15, 0, 0)


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        # Clocks go forward at 02:00: 02:30 does not exist that night and runs right after the change.
        ("America/New_York", utc(2025, 3, 8), ["03-08 02:30 EST", "03-09 03:00 EDT", "03-10 02:30 EDT"]),
        ("Europe/Berlin", utc(2025, 3, 29), ["03-29 02:30 CET", "03-30 03:00 CEST", "03-31 02:30 CEST"]),
        # Clocks go back at 03:00: 02:30 happens twice that night and runs once.
        ("Europe/Berlin", utc(2025, 10, 25), ["10-25 02:30 CEST", "10-26 02:30 CEST", "10-27 02:30 CET"]),
    ],
)
def test_a_daily_run_is_neither_skipped_nor_doubled_across_dst(zone: str, start: datetime, expected: list) -> None:
    fire_times = cron_trigger("30 2 * * *", zone)

    assert local_days(between(fire_times, start, start + timedelta(days=3), limit=10), zone) == expected


def test_a_daily_run_in_the_repeated_hour_runs_once_in_new_york() -> None:
    fire_times = cron_trigger("30 1 * * *", "America/New_York")

    times = between(fire_times, utc(2025, 11, 1, 12), utc(2025, 11, 4, 12), limit=10)

    assert local_days(times, "America/New_York") == ["11-02 01:30 EDT", "11-03 01:30 EST", "11-04 01:30 EST"]


def test_an_hourly_run_follows_real_hours_through_both_dst_changes() -> None:
    fire_times = cron_trigger("0 * * * *", "America/New_York")

    for start in (utc(2025, 3, 9, 4), utc(2025, 11, 2, 3)):
        times = between(fire_times, start, start + timedelta(hours=5), limit=10)
        gaps = {b - a for a, b in zip(times, times[1:], strict=False)}
        assert gaps == {timedelta(hours=1)}, local_days(times, "America/New_York")


def test_interval_fire_times_are_whole_seconds_phased_on_the_anchor() -> None:
    fire_times = interval_trigger(90, utc(2025, 1, 1, 0, 0, 0) + timedelta(microseconds=123456))

    assert fire_times.next_after(utc(2025, 1, 1, 0, 1, 0)) == utc(2025, 1, 1, 0, 1, 30)
    assert fire_times.next_after(utc(2025, 1, 1, 0, 1, 30)) == utc(2025, 1, 1, 0, 3, 0)


def test_the_latest_fire_time_is_found_after_a_long_outage() -> None:
    every_second = interval_trigger(1, utc(2025, 1, 1))
    nightly = cron_trigger("0 0 * * *", "Asia/Seoul")

    assert latest_fire_time(every_second, utc(2025, 1, 1), utc(2025, 3, 1, 12, 0, 0, 500)) == utc(2025, 3, 1, 12)
    assert latest_fire_time(nightly, utc(2024, 1, 1), utc(2025, 1, 1, 14)) == utc(2024, 12, 31, 15)
    assert latest_fire_time(nightly, utc(2025, 1, 1, 15, 0, 1), utc(2025, 1, 2, 14)) is None


def test_the_skipped_time_is_one_real_fire_time_whenever_it_is_asked_about() -> None:
    nightly = cron_trigger("30 2 * * *", "America/New_York")
    # 03:00 EDT, 07:00 UTC: the first instant after 01:59:59 EST.
    change = datetime(2026, 3, 8, 3, 0, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)

    # Asked from any moment before it, the answer is the same instant; after it, the next night.
    for before in (utc(2026, 3, 7, 8), change - timedelta(hours=1), change - timedelta(seconds=1)):
        assert nightly.next_after(before) == change
    assert nightly.next_after(change) == datetime(2026, 3, 9, 2, 30, tzinfo=ZoneInfo("America/New_York"))
    # Catch-up after an outage across the gap names that instant, never one that is not a fire time.
    assert latest_fire_time(nightly, utc(2026, 3, 7, 8), change + timedelta(minutes=40)) == change
    assert between(nightly, utc(2026, 3, 7, 8), utc(2026, 3, 8, 12), limit=5) == [change]


@pytest.mark.parametrize(
    "expression", ["* * *", "61 * * * *", "0 0 30 2 *", "0 0 * * funday", "0 0 L * *", "@reboot", "0 0 0 * * *"]
)
def test_an_invalid_or_impossible_cron_expression_is_refused(expression: str) -> None:
    with pytest.raises(BadInput):
        check_cron(expression, "UTC", now=utc(2025, 1, 1))
