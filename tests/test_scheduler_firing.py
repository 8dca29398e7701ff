"""What the daemon records for a due schedule, on SQLite and PostgreSQL (no Scrapyd needed here)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scheduler.firing import MAX_RECORDED, claim_manual, handle_due
from scraperq.errors import Conflict
from scraperq.storage import jobs, open_database
from scraperq.storage.schedules import add_schedule, get_schedule, set_enabled

START = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def every(db: Any, seconds: int, *, name: str = "s", first: datetime | None = None) -> int:
    schedule = add_schedule(
        db,
        name=name,
        spider="generic",
        interval_seconds=seconds,
        args={"url": "http://127.0.0.1/"},
        next_fire_time=first or START + timedelta(seconds=seconds),
        now=START,
    )
    return schedule.id


def runs(db: Any) -> list[jobs.JobRun]:
    return sorted(jobs.recent_runs(db, limit=1000), key=lambda r: r.fire_time)


def test_a_fire_time_is_claimed_once_however_often_it_is_looked_at(db: Any) -> None:
    schedule_id = every(db, 60)
    now = START + timedelta(seconds=60, milliseconds=5)

    first = handle_due(db, schedule_id, now, grace=600)
    again = handle_due(db, schedule_id, now, grace=600)

    assert first.claimed is not None and first.claimed.fire_time == START + timedelta(seconds=60)
    assert again.claimed is None
    assert [r.status for r in runs(db)] == ["dispatching"]
    assert get_schedule(db, "s").next_fire_time == START + timedelta(seconds=120)


def test_two_daemons_at_once_claim_each_fire_time_once(pg_url: str) -> None:
    databases = [open_database(pg_url) for _ in range(4)]
    schedule_id = every(databases[0], 1)
    claims: list[Any] = []
    lock = threading.Lock()

    def daemon(db: Any) -> None:
        for step in range(1, 31):
            outcome = handle_due(db, schedule_id, START + timedelta(seconds=step), grace=600)
            if outcome.claimed:
                with lock:
                    claims.append(outcome.claimed.fire_time)
                jobs.mark_final(db, outcome.claimed.run_id, status="finished", at=START)

    threads = [threading.Thread(target=daemon, args=(db,)) for db in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    recorded = runs(databases[0])
    for db in databases:
        db.close()
    assert len(claims) == len(set(claims))
    fire_times = [r.fire_time for r in recorded]
    assert fire_times == [START + timedelta(seconds=s) for s in range(1, 31)]  # every one, once
    assert {r.status for r in recorded} <= {"finished", "missed", "skipped"}


def test_fire_times_missed_within_the_grace_period_coalesce_into_one_run(db: Any) -> None:
    schedule_id = every(db, 10)
    back = START + timedelta(seconds=55)  # fire times at 10, 20, 30, 40 and 50 s went by

    outcome = handle_due(db, schedule_id, back, grace=600)

    recorded = runs(db)
    assert outcome.claimed is not None and outcome.claimed.fire_time == START + timedelta(seconds=50)
    assert [r.status for r in recorded] == ["missed"] * 4 + ["dispatching"]
    assert all("coalesced into the run for 2025-06-01T12:00:50" in (r.error or "") for r in recorded[:4])
    assert get_schedule(db, "s").next_fire_time == START + timedelta(seconds=60)


def test_fire_times_older_than_the_grace_period_are_recorded_missed_not_run(db: Any) -> None:
    schedule_id = every(db, 1)
    back = START + timedelta(hours=1, milliseconds=500)

    outcome = handle_due(db, schedule_id, back, grace=0)

    recorded = runs(db)
    assert outcome.claimed is None
    assert len(recorded) == MAX_RECORDED and {r.status for r in recorded} == {"missed"}
    assert "no scheduler was running" in (recorded[0].error or "")
    assert "so were the later fire times up to" in (recorded[-1].error or "")
    assert get_schedule(db, "s").next_fire_time == START + timedelta(hours=1, seconds=1)


def test_a_fire_time_is_skipped_and_recorded_while_the_previous_run_is_going(db: Any) -> None:
    schedule_id = every(db, 10)
    first = handle_due(db, schedule_id, START + timedelta(seconds=10), grace=600).claimed
    assert first is not None
    jobs.mark_accepted(db, first.run_id, node="http://127.0.0.1:6800", status="running", at=START)

    outcome = handle_due(db, schedule_id, START + timedelta(seconds=20), grace=600)

    skipped = runs(db)[-1]
    assert outcome.claimed is None
    assert skipped.status == "skipped" and skipped.fire_time == START + timedelta(seconds=20)
    assert skipped.error == f"previous run {first.job_id} is still running on http://127.0.0.1:6800"


def test_a_manual_run_is_refused_while_the_previous_run_is_going(db: Any) -> None:
    every(db, 10)
    claim_manual(db, "s", START)

    with pytest.raises(Conflict, match="still busy"):
        claim_manual(db, "s", START + timedelta(seconds=1))


def test_a_paused_schedule_does_not_fire(db: Any) -> None:
    schedule_id = every(db, 10)
    set_enabled(db, "s", False, next_fire_time=None)

    assert handle_due(db, schedule_id, START + timedelta(minutes=5), grace=600).claimed is None
    assert runs(db) == []


def test_a_cron_schedule_stored_the_old_way_gets_its_next_run_in_cron_meaning(db_url: str) -> None:
    from scraperq.storage import Database, migrate
    from scraperq.storage.migrations import MIGRATIONS

    database = Database(db_url)
    try:
        migrate(database, migrations=tuple(m for m in MIGRATIONS if m.version < 5))
        monday = datetime(2026, 3, 9, tzinfo=UTC)  # what the old reading made of "0 0 * * 0"
        schedule = add_schedule(database, name="sundays", spider="generic", cron="0 0 * * 0", next_fire_time=monday)
        migrate(database)
        assert get_schedule(database, "sundays").next_fire_time is None

        outcome = handle_due(database, schedule.id, datetime(2026, 3, 4, 12, tzinfo=UTC), grace=600)

        assert outcome.claimed is None and runs(database) == []  # nothing owed for the upgrade itself
        assert get_schedule(database, "sundays").next_fire_time == datetime(2026, 3, 8, tzinfo=UTC)
    finally:
        database.close()
