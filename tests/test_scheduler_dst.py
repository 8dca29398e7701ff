"""The daemon's own loop driven through the 2026 DST changes of two zones, on an injected clock.

``SchedulerDaemon.run`` is the loop ``scraperq scheduler`` runs; here its clock
and its sleep are the test's: each sleep moves the clock on by what the loop
asked for, once the dispatches it started are done, so a whole local day passes
in moments. What it records is counted in ``job_runs`` and compared with fire
times worked out with zoneinfo, independently of the code under test:

* ``0 * * * *`` runs every real hour: 23 times on the spring-forward day, 25 on
  the fall-back day;
* ``30 2 * * *``, whose time does not exist on the spring-forward night, runs
  once, at the first instant after the change;
* a schedule pinned to an hour that repeats on the fall-back night runs once,
  in the first pass.

Jobs go to a Scrapyd address where nothing listens, so every claimed fire time
ends ``failed`` at once: a row per fire time either way, and no crawl to wait for.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scheduler.config import SchedulerConfig
from scheduler.daemon import SchedulerDaemon
from scheduler.leader import Leadership, lock_for
from scheduler.nodes import NodePool
from scheduler.scrapyd import ScrapydClient, parse_nodes
from scheduler.triggers import first_fire_time
from scraperq.storage import jobs, open_database
from scraperq.storage.schedules import add_schedule
from tests.helpers import free_port, wait_for

NEW_YORK, BERLIN = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")


class FakeTime:
    """The loop's clock: a sleep moves it on at once, once the daemon leads and the dispatches under way
    have finished."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.now, self.end = start, end
        self.daemon: SchedulerDaemon | None = None

    def clock(self) -> datetime:
        return self.now

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        daemon = self.daemon
        assert daemon is not None
        if not daemon.leadership.is_leader.is_set():
            # Time stands still until the daemon leads (its lock is taken in a thread of its own): this
            # wait, asked for before it led, would otherwise move the clock an hour while nothing fired.
            wait_for(daemon.leadership.is_leader.is_set, timeout=60, interval=0.005, message="the daemon to lead")
            return False
        wait_for(lambda: not daemon.dispatcher.in_flight(), timeout=60, interval=0.005, message="dispatches")
        self.now += timedelta(seconds=seconds)
        if self.now >= self.end:
            daemon.request_stop()
        return False


def run_day(database_url: str, tmp_path: Path, zone: ZoneInfo, day: datetime, crons: list[str]) -> dict[str, list]:
    """Run the daemon's loop over one local day with these cron schedules; each one's fire times recorded."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    end = (datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(days=1)).astimezone(UTC)
    time = FakeTime(start - timedelta(seconds=1), end)
    db = open_database(database_url)
    ids = {}
    for i, cron in enumerate(crons):
        first = first_fire_time(cron=cron, timezone=zone.key, interval_seconds=None, anchor=start, after=time.now)
        schedule = add_schedule(
            db, name=f"s{i}", spider="generic", cron=cron, timezone=zone.key, next_fire_time=first, now=time.now
        )
        ids[cron] = schedule.id
    nowhere = f"http://127.0.0.1:{free_port()}"
    config = SchedulerConfig(
        database_url=database_url,
        nodes=tuple(parse_nodes(nowhere, default_capacity=4)),
        project="scraperq",
        http_timeout=2,
        tick=3600,  # the injected clock lets the loop sleep straight to the next fire time
        track_interval=3600,
    )
    client = ScrapydClient(project="scraperq", timeout=2)
    leadership = Leadership(lock_for(database_url), heartbeat=0.05)
    daemon = SchedulerDaemon(
        config, db, client, NodePool(config.nodes, client), leadership, clock=time.clock, wait=time.wait
    )
    time.daemon = daemon
    try:
        thread = threading.Thread(target=daemon.run, name="dst-daemon")
        thread.start()
        thread.join(timeout=240)
        assert not thread.is_alive(), "the loop did not get through the day"
        recorded = {cron: jobs.recent_runs(db, schedule_id=sid, limit=1000) for cron, sid in ids.items()}
    finally:
        db.close()
    for runs in recorded.values():
        assert {r.status for r in runs} <= {"failed"}, [(r.status, r.error) for r in runs]  # none missed or skipped
    return {cron: sorted(r.fire_time for r in runs) for cron, runs in recorded.items()}


def local(*args: int, zone: ZoneInfo, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=zone, fold=fold).astimezone(UTC)


@pytest.mark.parametrize(
    ("zone", "day", "skipped_daily", "right_after_change"),
    [
        (NEW_YORK, datetime(2026, 3, 8), "30 2 * * *", (2026, 3, 8, 3, 0)),
        (BERLIN, datetime(2026, 3, 29), "30 2 * * *", (2026, 3, 29, 3, 0)),
    ],
)
def test_spring_forward_day_runs_every_real_hour_and_the_skipped_time_once_right_after(
    tmp_path: Path, zone: ZoneInfo, day: datetime, skipped_daily: str, right_after_change: tuple
) -> None:
    database_url = f"sqlite:///{tmp_path / 'dst.sqlite3'}"

    fired = run_day(database_url, tmp_path, zone, day, ["0 * * * *", skipped_daily])

    start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    real_hours = int(
        ((datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(days=1)).astimezone(UTC) - start)
        / timedelta(hours=1)
    )
    assert real_hours == 23
    assert fired["0 * * * *"] == [start + timedelta(hours=h) for h in range(real_hours)]
    assert fired[skipped_daily] == [local(*right_after_change, zone=zone)]


@pytest.mark.parametrize(
    ("zone", "day", "repeated_daily", "first_pass"),
    [
        (NEW_YORK, datetime(2026, 11, 1), "30 1 * * *", (2026, 11, 1, 1, 30)),
        (BERLIN, datetime(2026, 10, 25), "30 2 * * *", (2026, 10, 25, 2, 30)),
    ],
)
def test_fall_back_day_runs_every_real_hour_and_the_repeated_time_once(
    tmp_path: Path, zone: ZoneInfo, day: datetime, repeated_daily: str, first_pass: tuple
) -> None:
    database_url = f"sqlite:///{tmp_path / 'dst.sqlite3'}"

    fired = run_day(database_url, tmp_path, zone, day, ["0 * * * *", repeated_daily])

    start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    assert fired["0 * * * *"] == [start + timedelta(hours=h) for h in range(25)]
    assert local(*first_pass, zone=zone) != local(*first_pass, zone=zone, fold=1)  # the wall time does repeat
    assert fired[repeated_daily] == [local(*first_pass, zone=zone)]
