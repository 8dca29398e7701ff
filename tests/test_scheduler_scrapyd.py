"""The scheduler daemon against real Scrapyd nodes, real PostgreSQL and the mock server.

Daemons run as real ``scraperq scheduler`` processes with a short tick; where the
time of day matters it is injected into an in-process daemon instead of waited for.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler.config import SchedulerConfig
from scheduler.daemon import SchedulerDaemon
from scheduler.dispatch import Dispatcher
from scheduler.firing import claim_manual
from scheduler.leader import Leadership, lock_for
from scheduler.nodes import NodePool
from scheduler.scrapyd import ScrapydClient, parse_nodes
from scheduler.tracker import JobTracker
from scheduler.triggers import first_fire_time
from scraperq.storage import jobs, open_database
from scraperq.storage.connection import utcnow
from scraperq.storage.schedules import add_schedule
from tests.helpers import BIN, ScrapydNode, crawl_env, scraperq, spawn, wait_for

DISPATCHED = ("pending", "running", "finished", "failed")


def nodes_setting(nodes: list[ScrapydNode]) -> str:
    return ",".join(node.url for node in nodes)


def daemon_env(database_url: str, nodes: list[ScrapydNode], **extra: str) -> dict[str, str]:
    return crawl_env(
        database_url,
        SCRAPYD_NODES=nodes_setting(nodes),
        SCRAPERQ_SCHEDULER_TICK="0.2",
        SCRAPERQ_SCHEDULER_TRACK_INTERVAL="0.3",
        SCRAPYD_TIMEOUT="3",
        SCRAPERQ_API_BIND="127.0.0.1:0",  # several daemons on one machine: each its own port
        **extra,
    )


class Daemon:
    """A ``scraperq scheduler`` process with its log in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log_path = log
        with open(log, "ab") as out:
            self.proc = spawn([str(BIN / "scraperq"), "scheduler"], env, stdout=out, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def leads(self) -> bool:
        return "became the leader" in self.log()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Any]:
    started: list[Daemon] = []

    def start(env: dict[str, str], name: str = "daemon") -> Daemon:
        daemon = Daemon(env, tmp_path / f"{name}.log")
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


def add_every(database_url: str, name: str, seconds: int, url: str, **args: str) -> int:
    now = utcnow()
    with open_database(database_url) as db:
        schedule = add_schedule(
            db,
            name=name,
            spider="generic",
            interval_seconds=seconds,
            args={"url": url, **args},
            next_fire_time=first_fire_time(cron=None, timezone="UTC", interval_seconds=seconds, anchor=now, after=now),
            now=now,
        )
    return schedule.id


def runs_of(database_url: str, schedule_id: int) -> list[jobs.JobRun]:
    with open_database(database_url, migrate_schema=False) as db:
        found = jobs.recent_runs(db, schedule_id=schedule_id, limit=10_000)
    return sorted(found, key=lambda r: r.fire_time)


def scrapyd_job_ids(nodes: list[ScrapydNode]) -> Counter[str]:
    """How many times each job id appears across every node (pending, running and finished)."""
    seen: Counter[str] = Counter()
    for node in nodes:
        listing = node.call("listjobs.json?project=scraperq")
        for state in ("pending", "running", "finished"):
            seen.update(job["id"] for job in listing[state])
    return seen


def assert_every_fire_time_once(runs: list[jobs.JobRun], seconds: int, nodes: list[ScrapydNode]) -> None:
    """Each fire time from the first to the last has one row, and each dispatched job exists once."""
    fire_times = [r.fire_time for r in runs]
    first = fire_times[0]
    assert fire_times == [first + timedelta(seconds=seconds * i) for i in range(len(fire_times))]
    dispatched = [r for r in runs if r.status in DISPATCHED]
    on_nodes = scrapyd_job_ids(nodes)
    assert [on_nodes[r.scrapyd_job_id] for r in dispatched] == [1] * len(dispatched)
    assert not [r for r in runs if r.status == "dispatching"]


def settled(database_url: str, schedule_id: int) -> bool:
    return all(r.status != "dispatching" for r in runs_of(database_url, schedule_id))


# -- firing and following ------------------------------------------------------------------


def test_an_interval_schedule_runs_and_its_jobs_finish_with_results(
    pg_url: str, scrapyd: list[ScrapydNode], mockserver: Any, start_daemon: Any
) -> None:
    url = mockserver("/article")
    added = scraperq(
        pg_url, "schedule", "add", "articles", "--spider", "generic", "--every", "2s", "--arg", f"url={url}"
    )
    assert added.returncode == 0, added.stderr
    daemon = start_daemon(daemon_env(pg_url, scrapyd))

    def two_ended() -> list[jobs.JobRun] | None:
        ended = [r for r in runs_of(pg_url, 1) if r.status in ("finished", "failed")]
        return ended if len(ended) >= 2 else None

    ended = wait_for(two_ended, timeout=120, message="two runs to end")

    with open_database(pg_url, migrate_schema=False) as db, db.transaction() as cur:
        for run in ended:
            assert run.status == "finished", run.error
            assert run.node in {node.name for node in scrapyd}
            assert (run.item_count, run.task_count, run.tasks_failed) == (1, 1, 0)
            # Each run crawls its start URL again, as a new task, and stores what it found.
            results = cur.execute("SELECT url FROM results WHERE job_id = %s", (run.scrapyd_job_id,)).fetchall()
            assert [r["url"] for r in results] == [url]
            tasks = cur.execute("SELECT source FROM tasks WHERE job_id = %s", (run.scrapyd_job_id,)).fetchall()
            assert [t["source"] for t in tasks] == ["schedule"]
    assert scrapyd[0].auth["SCRAPYD_PASSWORD"] not in daemon.log()


def test_a_paused_schedule_stops_firing_in_a_running_daemon(
    pg_url: str, scrapyd: list[ScrapydNode], mockserver: Any, start_daemon: Any
) -> None:
    schedule_id = add_every(pg_url, "paused", 1, mockserver("/article"))
    start_daemon(daemon_env(pg_url, scrapyd))
    wait_for(lambda: len(runs_of(pg_url, schedule_id)) >= 2, timeout=60, message="the schedule to fire")

    paused = scraperq(pg_url, "schedule", "pause", "paused")
    assert paused.returncode == 0, paused.stderr
    time.sleep(2.5)  # the daemon sees the change within two seconds
    before = len(runs_of(pg_url, schedule_id))
    time.sleep(2.5)

    assert len(runs_of(pg_url, schedule_id)) == before


def test_a_cron_schedule_fires_at_midnight_in_its_time_zone(
    pg_url: str, scrapyd: list[ScrapydNode], mockserver: Any
) -> None:
    created = datetime(2025, 1, 1, 14, 0, tzinfo=UTC)
    db = open_database(pg_url)
    schedule = add_schedule(
        db,
        name="seoul-midnight",
        spider="generic",
        cron="0 0 * * *",
        timezone="Asia/Seoul",
        args={"url": mockserver("/article")},
        next_fire_time=first_fire_time(
            cron="0 0 * * *", timezone="Asia/Seoul", interval_seconds=None, anchor=created, after=created
        ),
        now=created,
    )
    config = SchedulerConfig(
        database_url=pg_url,
        nodes=tuple(parse_nodes(nodes_setting(scrapyd), default_capacity=4)),
        project="scraperq",
        http_timeout=5,
    )
    client = ScrapydClient(project="scraperq", timeout=5)
    leadership = Leadership(lock_for(pg_url), heartbeat=1)
    leadership.is_leader.set()  # in-process: this test is the only daemon
    clock_now = [created]
    daemon = SchedulerDaemon(config, db, client, NodePool(config.nodes, client), leadership, clock=lambda: clock_now[0])
    try:
        daemon.fire_due(datetime(2025, 1, 1, 14, 59, 59, tzinfo=UTC))  # 23:59:59 in Seoul
        assert jobs.recent_runs(db, schedule_id=schedule.id) == []

        clock_now[0] = datetime(2025, 1, 1, 15, 0, 0, 300_000, tzinfo=UTC)  # 00:00:00.3 in Seoul
        daemon.fire_due(clock_now[0])
        [run] = jobs.recent_runs(db, schedule_id=schedule.id)
    finally:
        db.close()

    assert run.fire_time == datetime(2025, 1, 1, 15, 0, tzinfo=UTC)
    assert run.status == "pending" and run.node in {node.name for node in scrapyd}
    assert scrapyd_job_ids(scrapyd)[run.scrapyd_job_id] == 1


def test_a_run_passes_the_schedules_arguments_and_settings_to_the_spider(
    pg_url: str, scrapyd: list[ScrapydNode], mockserver: Any
) -> None:
    db = open_database(pg_url)
    url = mockserver("/article")
    add_schedule(
        db,
        name="configured",
        spider="generic",
        interval_seconds=3600,
        args={"url": url, "follow": "same-host"},
        settings={"CLOSESPIDER_PAGECOUNT": "3"},
    )
    client = ScrapydClient(project="scraperq", timeout=5)
    dispatcher = Dispatcher(db, client, NodePool(parse_nodes(nodes_setting(scrapyd), default_capacity=4), client))
    try:
        outcome = dispatcher.dispatch(claim_manual(db, "configured", utcnow()))
    finally:
        db.close()
    node = next(n for n in scrapyd if n.name == outcome.node)

    def started() -> str | None:  # Scrapyd logs the command line of each job it starts
        log = (node.folder / "scrapyd.log").read_text(errors="replace")
        return next((line for line in log.splitlines() if f"job='{outcome.run.job_id}'" in line), None)

    line = wait_for(started, timeout=30, message="the job to start")
    assert "'-s', 'CLOSESPIDER_PAGECOUNT=3'" in line
    assert f"'-a', 'url={url}'" in line and "'-a', 'follow=same-host'" in line


def test_a_job_that_fails_is_recorded_failed_with_the_reason(pg_url: str, scrapyd: list[ScrapydNode]) -> None:
    db = open_database(pg_url)
    add_schedule(db, name="broken", spider="generic", interval_seconds=3600, args={"follow": "sideways"})
    client = ScrapydClient(project="scraperq", timeout=5)
    pool = NodePool(parse_nodes(nodes_setting(scrapyd), default_capacity=4), client)
    dispatcher = Dispatcher(db, client, pool)
    tracker = JobTracker(db, client, pool, strays=dispatcher.strays, lost_after=600)
    try:
        claim = claim_manual(db, "broken", utcnow())
        dispatcher.dispatch(claim)

        def final() -> jobs.JobRun | None:
            tracker.poll()
            run = jobs.get_run(db, claim.run_id)
            return run if run.status in ("finished", "failed") else None

        run = wait_for(final, timeout=60, interval=0.3, message="the job to end")
    finally:
        db.close()

    # The crawl refused its arguments at start, and said why in its own row.
    assert (run.status, run.finish_reason) == ("failed", "not started")
    assert run.error == "-a follow='sideways': use one of none, same-host, same-domain"


# -- nodes -------------------------------------------------------------------------------


def test_dispatch_fails_over_from_a_node_that_is_down_or_lacks_the_project(
    pg_url: str,
    scrapyd: list[ScrapydNode],
    scrapyd_egg: Path,
    tmp_path: Path,
    mockserver: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secured, plain = scrapyd
    plain.deploy(scrapyd_egg, project="failover")  # the secured node answers, but has no such project
    doomed = ScrapydNode(tmp_path / "doomed", crawl_env(pg_url))
    doomed.deploy(scrapyd_egg, project="failover")
    client = ScrapydClient(project="failover", timeout=5)
    # The doomed node looks idlest, the secured node next: both are tried before the plain one.
    nodes = parse_nodes(f"{doomed.name}#capacity=100,{secured.url}#capacity=50,{plain.url}", default_capacity=1)
    pool = NodePool(nodes, client, max_age=3600)
    states = {status.node.name: status.state for status in pool.statuses(refresh=True)}
    assert states == {doomed.name: "up", secured.name: "no project", plain.name: "up"}
    no_project = next(s for s in pool.statuses() if s.node.name == secured.name)
    assert no_project.error == f"{secured.name} answers, but project 'failover' is not deployed there (scrapyd-deploy)"
    doomed.stop()
    db = open_database(pg_url)
    add_schedule(db, name="failover", spider="generic", interval_seconds=3600, args={"url": mockserver("/article")})
    try:
        with caplog.at_level(logging.WARNING, logger="scheduler"):
            outcome = Dispatcher(db, client, pool).dispatch(claim_manual(db, "failover", utcnow()))
        run = jobs.get_run(db, outcome.run.run_id)
    finally:
        db.close()

    assert outcome.node == plain.name
    assert (run.status, run.node) == ("pending", plain.name)
    assert f"{doomed.name} is unreachable" in caplog.text
    assert secured.name not in caplog.text.split("is unreachable")[-1]  # a node lacking the project is not tried first
    assert secured.auth["SCRAPYD_PASSWORD"] not in caplog.text


def test_a_job_goes_to_the_least_loaded_node_when_run_by_hand_from_a_shell_without_nodes(
    pg_url: str, scrapyd: list[ScrapydNode], mockserver: Any, start_daemon: Any
) -> None:
    busy, idle = scrapyd
    busy.call("schedule.json", project="scraperq", spider="generic", url=mockserver("/slow?delay=5"))
    wait_for(lambda: busy.call("daemonstatus.json")["running"] == 1, timeout=30, message="the busy node's job")
    add_every(pg_url, "balanced", 3600, mockserver("/article"))
    daemon = start_daemon(daemon_env(pg_url, scrapyd))
    wait_for(daemon.leads, timeout=30, message="the daemon to lead")

    # The shell knows the database only: the request is recorded, and the leading daemon dispatches it.
    ran = scraperq(pg_url, "schedule", "run", "balanced", SCRAPYD_NODES="http://127.0.0.1:9")

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().endswith(f"accepted by {idle.name}")


# -- never overlap, exactly once -------------------------------------------------------------


def test_a_fire_time_is_skipped_and_recorded_while_the_previous_run_is_going(
    pg_url: str, scrapyd: list[ScrapydNode], mockserver: Any, start_daemon: Any
) -> None:
    schedule_id = add_every(pg_url, "slow", 1, mockserver("/slow?delay=3"))
    start_daemon(daemon_env(pg_url, scrapyd))

    def ran_twice() -> bool:
        return len([r for r in runs_of(pg_url, schedule_id) if r.status in DISPATCHED]) >= 2

    wait_for(ran_twice, timeout=90, interval=0.3, message="a second run after the first ended")

    runs = runs_of(pg_url, schedule_id)
    first = next(r for r in runs if r.status in DISPATCHED)
    skipped = [r for r in runs if r.status == "skipped"]
    assert skipped, [(r.status, r.error) for r in runs]
    assert skipped[0].error.startswith(f"previous run {first.scrapyd_job_id} is still ")
    assert skipped[0].error.endswith(f" on {first.node}")
    # Each run was dispatched only once the one before it had been seen to end.
    dispatched = [r for r in runs if r.status in DISPATCHED]
    for before, after in zip(dispatched, dispatched[1:], strict=False):
        assert before.finished_at is not None and before.finished_at <= after.dispatched_at


def test_two_daemons_dispatch_each_fire_time_once_and_one_takes_over(
    pg_url: str, scrapyd: list[ScrapydNode], mockserver: Any, start_daemon: Any
) -> None:
    schedule_id = add_every(pg_url, "shared", 1, mockserver("/article"))
    env = daemon_env(pg_url, scrapyd)
    daemons = [start_daemon(env, "a"), start_daemon(env, "b")]
    leader = wait_for(lambda: next((d for d in daemons if d.leads()), None), timeout=30, message="a leader")
    follower = next(d for d in daemons if d is not leader)
    wait_for(lambda: "standing by" in follower.log(), timeout=30, message="the other daemon to stand by")

    def dispatched(after: datetime | None = None) -> int:
        return len(
            [r for r in runs_of(pg_url, schedule_id) if r.status in DISPATCHED and (not after or r.created_at > after)]
        )

    wait_for(lambda: dispatched() >= 2, timeout=60, message="runs from the leader")
    leader.kill()
    killed_at = utcnow()
    wait_for(follower.leads, timeout=30, message="the standby daemon to take over")
    wait_for(lambda: dispatched(after=killed_at) >= 2, timeout=60, message="runs from the new leader")
    follower.stop()
    wait_for(lambda: settled(pg_url, schedule_id), timeout=30, message="unconfirmed runs to settle")

    assert leader.log().count("became the leader") == 1
    standby_log = follower.log().split("became the leader")[0]
    assert "accepted by" not in standby_log  # it dispatched nothing while the other led
    assert_every_fire_time_once(runs_of(pg_url, schedule_id), 1, scrapyd)


def test_a_daemon_killed_and_restarted_neither_loses_nor_doubles_a_fire_time(
    pg_url: str, scrapyd: list[ScrapydNode], mockserver: Any, start_daemon: Any
) -> None:
    schedule_id = add_every(pg_url, "restarted", 1, mockserver("/article"))
    env = daemon_env(pg_url, scrapyd)
    first = start_daemon(env, "first")
    wait_for(lambda: len([r for r in runs_of(pg_url, schedule_id) if r.status in DISPATCHED]) >= 2, timeout=60)
    first.kill()
    time.sleep(2.5)  # fire times pass with no daemon running
    restarted_at = utcnow()
    second = start_daemon(env, "second")
    wait_for(
        lambda: (
            len([r for r in runs_of(pg_url, schedule_id) if r.status in DISPATCHED and r.created_at > restarted_at])
            >= 2
        ),
        timeout=60,
        message="runs after the restart",
    )
    second.stop()
    wait_for(lambda: settled(pg_url, schedule_id), timeout=30, message="unconfirmed runs to settle")

    runs = runs_of(pg_url, schedule_id)
    assert_every_fire_time_once(runs, 1, scrapyd)
    assert any("coalesced into the run for" in (r.error or "") for r in runs if r.created_at > restarted_at)


def test_a_daemon_on_sqlite_fires_and_follows_its_jobs(
    tmp_path: Path, scrapyd: list[ScrapydNode], mockserver: Any, start_daemon: Any
) -> None:
    database_url = f"sqlite:///{tmp_path / 'scheduler.sqlite3'}"
    schedule_id = add_every(database_url, "embedded", 1, mockserver("/article"))
    start_daemon(daemon_env(database_url, scrapyd), "sqlite")

    run = wait_for(
        lambda: next((r for r in runs_of(database_url, schedule_id) if r.status == "finished"), None),
        timeout=90,
        interval=0.3,
        message="a finished run",
    )

    assert run.node in {node.name for node in scrapyd}


# -- runs that report themselves ----------------------------------------------------------------


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_a_crawl_outliving_its_killed_node_keeps_its_schedule_from_running_twice(
    pg_url: str, scrapyd: list[ScrapydNode], scrapyd_egg: Path, tmp_path: Path, mockserver: Any, start_daemon: Any
) -> None:
    reporting = {"SCRAPERQ_JOB_HEARTBEAT": "1"}  # heartbeat every second; gone after six missed
    doomed = ScrapydNode(tmp_path / "doomed", crawl_env(pg_url, **reporting))
    crawl_pid = None
    try:
        doomed.deploy(scrapyd_egg)
        for node in (doomed, *scrapyd):  # Scrapyd builds its spider list on first asking, answering nothing meanwhile
            node.call("listspiders.json?project=scraperq")
        schedule_id = add_every(pg_url, "long", 2, mockserver("/slow?delay=25"))
        nodes = f"{doomed.url}#capacity=100," + nodes_setting(scrapyd)  # the idlest: the first run goes there
        # Lost after 3 s by Scrapyd's word alone: only the crawl's heartbeat can keep the run alive.
        env = daemon_env(pg_url, scrapyd, SCRAPERQ_JOB_LOST_AFTER="3", **reporting)
        env.update(SCRAPYD_NODES=nodes, SCRAPYD_TIMEOUT="10")
        start_daemon(env)

        def reporting_run() -> jobs.JobRun | None:
            runs = [r for r in runs_of(pg_url, schedule_id) if r.status == "running" and r.pid]
            return runs[0] if runs else None

        first = wait_for(reporting_run, timeout=90, interval=0.3, message="the crawl to report itself running")
        assert first.node == doomed.name
        crawl_pid = first.pid
        doomed.proc.kill()  # kill -9: Scrapyd goes, the crawl it started lives on, re-parented
        doomed.proc.wait()
        killed_at = time.monotonic()
        assert process_alive(crawl_pid)

        # While the crawl lives, well past the 3 s after which Scrapyd's silence alone would mean lost:
        # no second crawl of the schedule anywhere, its fire times skipped and recorded.
        while process_alive(crawl_pid) and time.monotonic() - killed_at < 40:
            runs = runs_of(pg_url, schedule_id)
            others = [r for r in runs if r.id != first.id and r.status in DISPATCHED + ("dispatching",)]
            assert others == [], [(r.status, r.node, r.fire_time) for r in others]
            current = next(r for r in runs if r.id == first.id)
            if current.finish_reason:  # the crawl has recorded its own end, and is on its way out
                break
            assert current.status == "running", (current.status, current.error)
            time.sleep(0.5)
        assert time.monotonic() - killed_at > 10, "the crawl ended too soon to prove anything"
        skipped = [r for r in runs_of(pg_url, schedule_id) if r.status == "skipped"]
        assert skipped and all(first.scrapyd_job_id in (r.error or "") for r in skipped)

        # The crawl completes and says so: finished, never failed, with its counts.
        done = wait_for(
            lambda: next((r for r in runs_of(pg_url, schedule_id) if r.id == first.id and r.finish_reason), None),
            timeout=60,
            message="the crawl to record its end",
        )
        assert (done.status, done.finish_reason, done.item_count, done.task_count) == ("finished", "finished", 1, 1)
        # The schedule runs again once it is free, on a node that is up.
        wait_for(
            lambda: any(r.id != first.id and r.status in DISPATCHED for r in runs_of(pg_url, schedule_id)),
            timeout=60,
            message="the next run",
        )
    finally:
        if crawl_pid is not None and process_alive(crawl_pid):
            os.kill(crawl_pid, signal.SIGKILL)  # the orphan this test's node started
        doomed.stop()
