"""The daemon's daily maintenance run, driven through two days on an injected clock (as
tests/test_scheduler_dst.py drives the loop): it runs once a day at SCRAPERQ_RETENTION_AT in its time
zone, is recorded in ``job_runs`` with its counts, deletes what retention lets go, and a failing run
is recorded ``failed`` for the alerting.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from scheduler.alerts.events import job_failed
from scheduler.config import SchedulerConfig
from scheduler.daemon import SchedulerDaemon
from scheduler.leader import Leadership, lock_for
from scheduler.maintenance import Maintenance, MaintenanceConfig
from scheduler.nodes import NodePool
from scheduler.scrapyd import ScrapydClient, parse_nodes
from scraperq.archive.stores import ArchiveUnavailable, FolderStore
from scraperq.storage import alerts, jobs, open_database
from scraperq.storage.results import ResultRow
from scraperq.storage.tasks import NewTask, create_tasks
from scraperq.storage.writer import BatchWriter, TaskEvent
from tests.helpers import free_port, wait_for
from tests.test_scheduler_dst import FakeTime

START = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)


class FakeTimeAfterMaintenance(FakeTime):
    """The injected clock, which also lets a maintenance run under way finish before it moves on."""

    def wait(self, event: threading.Event, seconds: float) -> bool:
        maintenance = self.daemon.maintenance if self.daemon else None
        if maintenance is not None:
            wait_for(lambda: not maintenance.busy(), timeout=60, interval=0.005, message="the maintenance run")
        return super().wait(event, seconds)


def maintenance_runs(db) -> list[jobs.JobRun]:
    return sorted((r for r in jobs.recent_runs(db, limit=1000) if r.origin == "maintenance"), key=lambda r: r.id)


def test_the_leader_runs_retention_once_a_day_at_the_set_local_time_and_records_it(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    db = open_database(database_url)
    old, fresh = create_tasks(db, [NewTask(spider="books", url=f"https://books.example/{n}") for n in range(2)])
    writer = BatchWriter(db)
    writer.add_result(ResultRow(old, "books", "https://books.example/0", {"n": 0}, START - timedelta(days=20), "a"))
    writer.add_result(ResultRow(fresh, "books", "https://books.example/1", {"n": 1}, START, "b"))
    writer.add_task_event(TaskEvent(old, "completed", 1, START - timedelta(days=20)))
    writer.add_task_event(TaskEvent(fresh, "completed", 1, START))
    writer.flush()
    clock = FakeTimeAfterMaintenance(START, START + timedelta(days=2))
    nowhere = f"http://127.0.0.1:{free_port()}"
    config = SchedulerConfig(
        database_url=database_url,
        nodes=tuple(parse_nodes(nowhere, default_capacity=4)),
        project="scraperq",
        http_timeout=2,
        tick=3600,
        track_interval=3600,
    )
    client = ScrapydClient(project="scraperq", timeout=2)
    daemon = SchedulerDaemon(
        config,
        db,
        client,
        NodePool(config.nodes, client),
        Leadership(lock_for(database_url), heartbeat=0.05),
        clock=clock.clock,
        wait=clock.wait,
    )
    # 03:30 in New York is 07:30 UTC after the change to summer time on 8 March.
    settings = MaintenanceConfig(days=7, at=time(3, 30), timezone="America/New_York", archive_url=None)
    daemon.maintenance = Maintenance(db, settings, clock=clock.clock)
    clock.daemon = daemon
    thread = threading.Thread(target=daemon.run)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive()

    runs = maintenance_runs(db)
    # Started at 20:00 on 9 March in New York, after that day's time: the 9th's run at once, then one a day.
    assert [r.fire_time for r in runs] == [datetime(2026, 3, d, 7, 30, tzinfo=UTC) for d in (9, 10, 11)]
    assert [r.status for r in runs] == ["finished"] * 3
    assert (runs[0].item_count, runs[0].task_count) == (1, 1)  # the old task and its result
    assert runs[0].finish_reason.startswith("1 tasks, 1 results and 0 job runs deleted")
    with db.transaction() as cur:
        assert [r["id"] for r in cur.execute("SELECT id FROM tasks").fetchall()] == [fresh]
    db.close()


class Broken(FolderStore):
    def put(self, key: str, data: bytes) -> None:
        raise ArchiveUnavailable("cannot write the archive to /mnt/archive: No space left on device")


def test_a_failed_run_is_recorded_failed_and_raises_the_maintenance_alert(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    [old] = create_tasks(db, [NewTask(spider="books", url="https://books.example/")])
    writer = BatchWriter(db)
    writer.add_result(ResultRow(old, "books", "https://books.example/", {}, START - timedelta(days=20), "a"))
    writer.add_task_event(TaskEvent(old, "completed", 1, START - timedelta(days=20)))
    writer.flush()
    now = START + timedelta(hours=4)
    maintenance = Maintenance(db, MaintenanceConfig(), clock=lambda: now, store=Broken(tmp_path / "a"))

    run_id = maintenance.tick(now, background=False)
    assert maintenance.tick(now, background=False) is None  # once a day

    [run] = maintenance_runs(db)
    assert run.id == run_id and run.status == "failed" and "No space left on device" in run.error
    [ended] = [r for r in alerts.runs_ended_since(db, START) if r.id == run_id]
    assert job_failed(ended).type == "maintenance.failed"
    with db.transaction() as cur:  # nothing deleted unarchived
        assert cur.execute("SELECT COUNT(*) AS n FROM results").fetchone()["n"] == 1
    db.close()


def test_a_run_left_running_by_a_daemon_that_died_is_recorded_failed_the_next_day(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    day_one = START + timedelta(hours=4)
    first = Maintenance(db, MaintenanceConfig(), clock=lambda: day_one)
    dead_run = first._claim(first.config.due_time(day_one), day_one)  # claimed, then the daemon died
    day_two = day_one + timedelta(days=1)

    Maintenance(db, MaintenanceConfig(), clock=lambda: day_two).tick(day_two, background=False)

    runs = {r.id: r for r in maintenance_runs(db)}
    assert runs[dead_run].status == "failed" and runs[dead_run].error.startswith("interrupted")
    assert [r.status for r in runs.values() if r.id != dead_run] == ["finished"]
    db.close()
