"""The console's numbers from storage: activity per time bucket, job runs filtered and paged, why a run stored
nothing. On SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from scraperq.storage import jobs
from scraperq.storage.activity import activity
from scraperq.storage.results import ResultRow, insert_results
from scraperq.storage.schedules import add_schedule
from scraperq.storage.tasks import NewTask, create_tasks, mark_failed

NOW = datetime(2026, 3, 1, 12, 30, 20, tzinfo=UTC)


def test_activity_counts_items_pages_failures_and_latency_per_bucket(db: Any) -> None:
    (task, other) = create_tasks(db, [NewTask(spider="generic", url=f"https://example.com/{i}") for i in range(2)])
    at = [NOW - timedelta(minutes=m, seconds=5) for m in (0, 0, 0, 2, 30, 90)]  # the last one is outside the hour
    rows = [
        ResultRow(task, "generic", f"https://example.com/p{i // 2}", {"i": i}, when, f"fp{i}")
        for i, when in enumerate(at)
    ]
    with db.transaction() as cur:
        insert_results(cur, rows)
        mark_failed(cur, other, 1, "HTTP 404", NOW - timedelta(minutes=2, seconds=1))
    schedule = add_schedule(db, name="s", spider="generic", interval_seconds=60)
    with db.transaction() as cur:
        run_id = jobs.claim(
            cur,
            schedule_id=schedule.id,
            spider="generic",
            fire_time=NOW - timedelta(minutes=2),
            job_id="j" * 32,
            now=NOW,
        )
    jobs.mark_accepted(db, run_id, node="http://n", at=NOW - timedelta(minutes=2) + timedelta(seconds=3))

    found = activity(db, window=timedelta(hours=1), buckets=60, now=NOW)

    assert found.bucket_seconds == 60
    assert found.start == datetime(2026, 3, 1, 11, 31, tzinfo=UTC)  # 60 buckets, the last one holding now
    series = found.series
    assert (series["items"][-1], series["pages"][-1]) == (3, 2)  # p0 twice and p1 once: two pages
    assert (series["items"][-3], series["items"][-31], sum(series["items"])) == (1, 1, 5)
    assert series["failures"][-3] == 1 and sum(series["failures"]) == 1
    assert series["dispatch_latency"][-3] == 3 and sum(series["dispatch_latency"]) == 3


def test_job_runs_filter_page_and_tell_why_a_run_stored_nothing(db: Any) -> None:
    schedule = add_schedule(db, name="s", spider="generic", interval_seconds=60)
    with db.transaction() as cur:
        ids = [
            jobs.claim(
                cur, schedule_id=schedule.id, spider="generic", fire_time=NOW + timedelta(minutes=i), job_id=f"job{i}"
            )
            for i in range(4)
        ]
    created = create_tasks(db, [NewTask(spider="generic", url="https://example.com/x", job_id="job1")])
    with db.transaction() as cur:
        mark_failed(cur, created[0], 1, "DNS lookup failed for nosuch.invalid", NOW)

    newest = jobs.list_runs(db, status="dispatching", limit=3)
    assert [r.id for r in newest] == ids[::-1][:3]
    assert [r.id for r in jobs.list_runs(db, before_id=newest[-1].id, limit=3)] == ids[:1]
    assert jobs.list_runs(db, spider="sitemap") == []
    assert jobs.failed_task_errors(db, ["job0", "job1"]) == {"job1": "DNS lookup failed for nosuch.invalid"}
