"""Schedules and job runs in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from scraperq.errors import BadInput, Conflict, NotFound
from scraperq.storage import jobs
from scraperq.storage.schedules import add_schedule, get_schedule, remove_schedule
from scraperq.storage.tasks import NewTask, create_tasks

FIRE = datetime(2025, 6, 1, 12, tzinfo=UTC)


def test_a_schedule_keeps_its_arguments_settings_and_time_zone(db: Any) -> None:
    add_schedule(
        db,
        name="daily",
        spider="generic",
        cron="0 0 * * *",
        timezone="Asia/Seoul",
        args={"url": "https://example.com/", "follow": "same-host"},
        settings={"DOWNLOAD_DELAY": "2"},
    )

    schedule = get_schedule(db, "daily")

    assert schedule.args == {"url": "https://example.com/", "follow": "same-host"}
    assert schedule.settings == {"DOWNLOAD_DELAY": "2"}
    assert (schedule.cron, schedule.timezone, schedule.enabled) == ("0 0 * * *", "Asia/Seoul", True)


def test_names_are_unique(db: Any) -> None:
    add_schedule(db, name="once", spider="generic", interval_seconds=60)

    with pytest.raises(Conflict):
        add_schedule(db, name="once", spider="generic", interval_seconds=120)


@pytest.mark.parametrize(
    "values",
    [
        {"interval_seconds": 0},
        {"cron": "0 0 * * *", "interval_seconds": 60},
        {"interval_seconds": 60, "timezone": "Nowhere/Land"},
        {"interval_seconds": 60, "args": {"jobid": "x"}},
        {"interval_seconds": 60, "settings": {"lower_case": "1"}},
    ],
)
def test_a_schedule_that_cannot_run_is_refused(db: Any, values: dict) -> None:
    with pytest.raises(BadInput):
        add_schedule(db, name="bad", spider="generic", **values)
    with pytest.raises(NotFound):
        get_schedule(db, "bad")


def test_removing_a_schedule_keeps_its_run_history(db: Any) -> None:
    schedule = add_schedule(db, name="gone", spider="generic", interval_seconds=60)
    with db.transaction() as cur:
        jobs.claim(cur, schedule_id=schedule.id, spider="generic", fire_time=FIRE, job_id="j1")

    remove_schedule(db, "gone")

    [run] = jobs.recent_runs(db)
    assert (run.schedule_id, run.scrapyd_job_id, run.spider) == (None, "j1", "generic")


def test_one_row_per_fire_time(db: Any) -> None:
    schedule = add_schedule(db, name="s", spider="generic", interval_seconds=60)
    with db.transaction() as cur:
        first = jobs.claim(cur, schedule_id=schedule.id, spider="generic", fire_time=FIRE, job_id="a")
        second = jobs.claim(cur, schedule_id=schedule.id, spider="generic", fire_time=FIRE, job_id="b")
        skip = jobs.record_outcome(
            cur, schedule_id=schedule.id, spider="generic", fire_time=FIRE, status="skipped", error="x"
        )

    assert first is not None and second is None and skip is False


def test_a_jobs_counts_come_from_the_tasks_and_results_that_carry_its_id(db: Any) -> None:
    create_tasks(
        db, [NewTask("generic", "https://a.example/", job_id="job1"), NewTask("generic", "https://b.example/")]
    )
    with db.transaction() as cur:
        cur.execute("UPDATE tasks SET status = 'failed' WHERE url = %s", ("https://a.example/",))

    counts = jobs.job_counts(db, ["job1", "job2"])

    assert counts["job1"] == jobs.JobCounts(items=0, tasks=1, tasks_failed=1)
    assert counts["job2"] == jobs.JobCounts(items=0, tasks=0, tasks_failed=0)
