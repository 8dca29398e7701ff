"""Alerts end to end: events found in what the system records, delivered to a real HTTP receiver on loopback.

Each payload is checked against the JSON Schema shipped beside the code
(``scheduler/alerts/event.schema.json``, validated with ``jsonschema``) and
against what happened in words. Job runs are recorded through the same
storage calls the job tracker and the crawls make (and a lost run through the
real tracker); nodes are real Scrapyd processes the tests stop and start;
dead letters are real Redis lists.
"""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from scheduler.alerts import AlertConfig, Alerts
from scheduler.alerts.config import Destination, redact_webhook
from scheduler.dispatch import Strays
from scheduler.nodes import NodePool
from scheduler.scrapyd import ScrapydClient, parse_nodes
from scheduler.settings import ProjectSettings
from scheduler.tracker import JobTracker
from scraperq.errors import ConfigError
from scraperq.storage import Database, jobs, open_database
from scraperq.storage import alerts as store
from scraperq.storage.connection import utcnow
from scraperq.storage.schedules import Schedule, add_schedule
from tests.alert_receiver import Receiver
from tests.helpers import BIN, ROOT, ScrapydNode, crawl_env, free_port, wait_for

SCHEMA = json.loads((ROOT / "scheduler" / "alerts" / "event.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
CONSOLE = "https://console.example.com/scraperq/"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def leading() -> threading.Event:
    """This daemon leads (the alerting acts only then)."""
    event = threading.Event()
    event.set()
    return event


@pytest.fixture
def start_alerts(leading: threading.Event) -> Iterator[Any]:
    """Alerts with their threads running (the watch thread's passes far apart: tests call check())."""
    started: list[Alerts] = []

    def start(config: AlertConfig, db: Database, pool: NodePool | None = None, **options: Any) -> Alerts:
        alerts = Alerts(config, db, pool, **options)
        alerts.start(leading)
        started.append(alerts)
        return alerts

    yield start
    for alerts in started:
        alerts.stop()


def config_for(*urls: tuple[str, str], **options: Any) -> AlertConfig:
    """Quick retries, so the tests wait for conditions that come about in moments."""
    values: dict[str, Any] = {
        "console_url": CONSOLE,
        "interval": 3600.0,
        "timeout": 5.0,
        "retry_backoff": 0.05,
        "retry_max_delay": 0.2,
        "node_down_after": 0.0,
        **options,
    }
    return AlertConfig(destinations=tuple(Destination(name, url) for name, url in urls), **values)


# -- recording runs as the tracker, the crawls and the maintenance run do -----------------------


def add_hourly(db: Database, name: str, **settings: str) -> Schedule:
    now = utcnow()
    return add_schedule(
        db, name=name, spider="generic", interval_seconds=3600, args={}, settings=settings, next_fire_time=None, now=now
    )


def dispatched_run(db: Database, schedule: Schedule, node: str = "http://127.0.0.1:6800") -> int:
    with db.transaction() as cur:
        run_id = jobs.claim(
            cur, schedule_id=schedule.id, spider=schedule.spider, fire_time=utcnow(), job_id=uuid.uuid4().hex
        )
    assert run_id is not None
    jobs.mark_accepted(db, run_id, node=node, at=utcnow())
    return run_id


def failed_run(db: Database, schedule: Schedule, error: str) -> int:
    run_id = dispatched_run(db, schedule)
    assert jobs.mark_final(db, run_id, status="failed", at=utcnow(), error=error)
    return run_id


def finished_run(db: Database, schedule: Schedule, items: int) -> int:
    run_id = dispatched_run(db, schedule)
    assert jobs.mark_final(db, run_id, status="finished", at=utcnow(), counts=jobs.JobCounts(items, 3, 1))
    return run_id


def cancelled_run(db: Database, schedule: Schedule) -> int:
    run_id = dispatched_run(db, schedule)
    assert jobs.mark_final(db, run_id, status="cancelled", at=utcnow(), error="cancelled by hand")
    return run_id


def crawl_reported_failure(db: Database, error: str) -> str:
    """A crawl started on Scrapyd directly, which records its own failed end (scraperq/jobreport.py)."""
    job_id = uuid.uuid4().hex
    jobs.crawl_started(db, job_id=job_id, spider="generic", host="worker-1", pid=4321, at=utcnow())
    jobs.crawl_ended(
        db, job_id=job_id, spider="generic", status="failed", finish_reason="failed", error=error, pages=0, at=utcnow()
    )
    return job_id


def maintenance_failure(db: Database, error: str) -> int:
    """A failed daily maintenance run, recorded as the maintenance run records it: origin ``maintenance``,
    spider ``*``, no schedule and no node."""
    now = utcnow()
    with db.transaction() as cur:
        row = cur.execute(
            "INSERT INTO job_runs (spider, status, fire_time, origin, created_at, started_at, finished_at, error)"
            " VALUES ('*', 'failed', %s, 'maintenance', %s, %s, %s, %s) RETURNING id",
            (now, now, now, now, error),
        ).fetchone()
    return int(row["id"])


def recorded(db: Database, event_type: str | None = None) -> list[store.Alert]:
    return store.recent_alerts(db, limit=1000, type=event_type)


def dead_node_pool() -> tuple[NodePool, str]:
    name = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client = ScrapydClient(project="scraperq", timeout=1.0)
    return NodePool(parse_nodes(name, default_capacity=1), client, down_retry=0.1), name


# -- every event type, in the documented shape ------------------------------------------------


def test_each_event_type_reaches_the_webhook_in_the_documented_shape(
    db: Database, redis_url: str, receiver: Receiver, start_alerts: Any
) -> None:
    pool, dead_node = dead_node_pool()
    nightly = add_hourly(db, "nightly")
    failed_run(db, nightly, "HTTP 500 on https://example.com/")
    failed_run(db, nightly, "the spider closed with reason 'closespider_errorcount'")
    # The third is lost: its node is unreachable and the real tracker gives it up.
    lost_id = dispatched_run(db, nightly, node=dead_node)
    JobTracker(db, pool.client, pool, strays=Strays(), lost_after=0.0).poll()
    quiet = add_hourly(db, "quiet")
    empty_id = finished_run(db, quiet, items=0)
    crawl_job = crawl_reported_failure(db, "-a url='not-a-url': invalid URL 'not-a-url'")
    maintenance_id = maintenance_failure(db, "cannot write the archive: No space left on device")
    redis.Redis.from_url(redis_url).lpush("generic:dead", *[json.dumps({"payload": "x", "reason": "bad"})] * 4)

    alerts = start_alerts(
        config_for(("webhook", receiver.url()), dead_letters=3),
        db,
        pool,
        redis_factory=lambda: redis.Redis.from_url(redis_url),
        project_spiders=lambda: ["generic"],
    )
    alerts.check()  # (the watch thread's first pass may have found them already)

    assert len(recorded(db)) == 9
    bodies = wait_for(lambda: len(receiver.bodies()) == 9 and receiver.bodies(), message="9 deliveries")
    for request in receiver.received:
        VALIDATOR.validate(request.body)
        assert request.event_id == request.body["id"]
        assert request.headers["X-Scraperq-Event-Type"] == request.body["type"]
        assert datetime.fromisoformat(request.body["time"]).utcoffset().total_seconds() == 0
    by_type: dict[str, list[dict]] = {}
    for body in bodies:
        by_type.setdefault(body["type"], []).append(body)
    assert {t: len(b) for t, b in by_type.items()} == {
        "job.failed": 4,
        "schedule.failing": 1,
        "schedule.empty": 1,
        "maintenance.failed": 1,
        "dead_letters.threshold": 1,
        "node.down": 1,
    }
    lost = next(b for b in by_type["job.failed"] if b["job"]["id"] == lost_id)
    assert lost["summary"].startswith(f"Job {lost['job']['scrapyd_job_id']} of schedule nightly (spider generic)")
    assert f"failed on {dead_node}: lost: " in lost["summary"]
    assert (lost["schedule"], lost["node"], lost["link"]) == (
        {"id": nightly.id, "name": "nightly"},
        dead_node,
        f"{CONSOLE}#job-{lost_id}",
    )
    by_crawl = next(b for b in by_type["job.failed"] if b["job"]["scrapyd_job_id"] == crawl_job)
    assert by_crawl["schedule"] is None and "invalid URL 'not-a-url'" in by_crawl["summary"]
    [failing] = by_type["schedule.failing"]
    assert "Schedule nightly (spider generic) has failed 3 times in a row; last error: lost: " in failing["summary"]
    assert failing["details"] == {"failures_in_a_row": 3, "threshold": 3, "streak_reached_at_run": lost_id}
    [empty] = by_type["schedule.empty"]
    assert empty["job"]["id"] == empty_id and "stored nothing: 0 items" in empty["summary"]
    [maintenance] = by_type["maintenance.failed"]
    assert maintenance["job"]["id"] == maintenance_id and "No space left on device" in maintenance["summary"]
    [dead] = by_type["dead_letters.threshold"]
    assert (dead["spider"], dead["details"]) == ("generic", {"dead_letters": 4, "threshold": 3})
    assert dead["link"] == f"{CONSOLE}#dead-generic"
    [down] = by_type["node.down"]
    assert down["node"] == dead_node and down["summary"].startswith(f"Scrapyd node {dead_node} is down: ")
    # Seen again on the next pass (and by the next daemon): nothing new.
    assert alerts.check() == 0
    assert Alerts(config_for(dead_letters=3), db, pool).check() == 0


def test_slack_gets_one_line_of_text_with_the_datas_markup_escaped(
    db: Database, receiver: Receiver, start_alerts: Any
) -> None:
    run_id = failed_run(db, add_hourly(db, "nightly"), "answered <html> & then\nclosed")

    start_alerts(config_for(("slack", receiver.url("/services/T0/B0/xyz"))), db).check()

    [body] = wait_for(lambda: receiver.bodies(), message="the Slack message")
    assert list(body) == ["text"]
    assert body["text"].startswith(":x: *job.failed*: Job ")
    assert "failed on http://127.0.0.1:6800: answered &lt;html&gt; &amp; then closed" in body["text"]
    assert body["text"].endswith(f" <{CONSOLE}#job-{run_id}|open in the console>")


# -- schedules: failures in a row, empty runs -------------------------------------------------


def test_a_streak_of_failures_is_one_event_and_a_finished_run_ends_it(db: Database) -> None:
    flaky = add_hourly(db, "flaky")
    alerts = Alerts(config_for(), db, None)

    def streaks() -> list[dict]:
        alerts.check()
        return [a.payload for a in recorded(db, "schedule.failing")]

    failed_run(db, flaky, "HTTP 503")
    failed_run(db, flaky, "HTTP 503")
    assert streaks() == []
    third = failed_run(db, flaky, "HTTP 503")
    [first_streak] = streaks()
    assert first_streak["details"]["streak_reached_at_run"] == third
    cancelled_run(db, flaky)  # neither breaks the streak nor adds to it
    failed_run(db, flaky, "HTTP 503")
    assert len(streaks()) == 1
    assert len(recorded(db, "job.failed")) == 4  # each failed run is told all the same

    finished_run(db, flaky, items=5)
    failed_run(db, flaky, "HTTP 503")
    failed_run(db, flaky, "HTTP 503")
    again = failed_run(db, flaky, "HTTP 503")
    second_streak, _ = streaks()
    assert second_streak["details"]["streak_reached_at_run"] == again
    assert second_streak["id"] != first_streak["id"]


def test_a_schedule_sets_its_own_number_of_failures_in_a_row(db: Database) -> None:
    strict = add_hourly(db, "strict", SCRAPERQ_ALERT_FAILURES_IN_A_ROW="1")
    never = add_hourly(db, "never", SCRAPERQ_ALERT_FAILURES_IN_A_ROW="0")
    failed_run(db, strict, "HTTP 500")
    for _ in range(4):
        failed_run(db, never, "HTTP 500")

    Alerts(config_for(), db, None).check()

    assert [a.payload["schedule"]["name"] for a in recorded(db, "schedule.failing")] == ["strict"]


def test_empty_runs_are_told_unless_turned_off_for_the_schedule_or_everywhere(db: Database) -> None:
    quiet = add_hourly(db, "quiet")
    sparse = add_hourly(db, "sparse", SCRAPERQ_ALERT_EMPTY_RUNS="0")
    loud = add_hourly(db, "loud", SCRAPERQ_ALERT_EMPTY_RUNS="1")
    finished_run(db, quiet, items=0)
    finished_run(db, quiet, items=3)
    finished_run(db, sparse, items=0)

    Alerts(config_for(), db, None).check()
    assert [a.payload["schedule"]["name"] for a in recorded(db, "schedule.empty")] == ["quiet"]

    finished_run(db, quiet, items=0)
    finished_run(db, loud, items=0)
    Alerts(config_for(empty_runs=False), db, None).check()  # SCRAPERQ_ALERT_EMPTY_RUNS=0 for the daemon
    assert [a.payload["schedule"]["name"] for a in recorded(db, "schedule.empty")] == ["loud", "quiet"]


# -- deliveries: retries, time limits, giving up ----------------------------------------------


def test_a_failing_then_recovering_receiver_gets_the_event_once_after_retries(
    db: Database, receiver: Receiver, start_alerts: Any
) -> None:
    receiver.plan = [500, (503, {"Retry-After": "0"}), 200]
    run_id = failed_run(db, add_hourly(db, "nightly"), "HTTP 404")
    alerts = start_alerts(config_for(("webhook", receiver.url())), db)
    alerts.check()
    [event] = recorded(db)

    wait_for(lambda: recorded(db)[0].deliveries[0].status == "delivered", message="the delivery to succeed")
    # One more event, delivered after: the first one is not sent again meanwhile.
    crawl_reported_failure(db, "sentinel")
    alerts.check()
    wait_for(lambda: len(receiver.bodies()) == 2, message="the second event")

    assert [r.answer for r in receiver.requests_for(event.event_id)] == [500, 503, 200]
    assert [r.headers["X-Scraperq-Attempt"] for r in receiver.requests_for(event.event_id)] == ["1", "2", "3"]
    [delivery] = recorded(db)[-1].deliveries
    assert (delivery.attempts, delivery.delivered_at is not None) == (3, True)
    assert delivery.last_error == "HTTP 503 Service Unavailable: receiver <failed> & said so"
    assert receiver.bodies()[0]["job"]["id"] == run_id


def test_a_receiver_that_never_answers_is_cut_off_at_the_time_limit_and_tried_again(
    db: Database, receiver: Receiver, start_alerts: Any
) -> None:
    receiver.plan = ["hang", 200]
    failed_run(db, add_hourly(db, "nightly"), "HTTP 500")

    start_alerts(config_for(("webhook", receiver.url()), timeout=0.5), db).check()

    wait_for(lambda: recorded(db)[0].deliveries[0].status == "delivered", message="the second attempt")
    [delivery] = recorded(db)[0].deliveries
    assert (delivery.attempts, delivery.last_error) == (2, "no answer within 0.5 s")


def test_a_refusal_is_given_up_at_once_and_failures_after_the_last_attempt(
    db: Database, receiver: Receiver, start_alerts: Any
) -> None:
    nightly = add_hourly(db, "nightly")
    alerts = start_alerts(config_for(("webhook", receiver.url()), max_attempts=2), db)
    receiver.plan = [404]
    failed_run(db, nightly, "first")
    alerts.check()
    wait_for(lambda: recorded(db)[0].deliveries[0].status == "failed", message="the refusal to be final")
    receiver.plan = [500, 500, 200]
    failed_run(db, nightly, "second")
    alerts.check()
    wait_for(lambda: recorded(db)[0].deliveries[0].status == "failed", message="the attempts to run out")

    second, first = recorded(db, "job.failed")
    assert (first.deliveries[0].attempts, first.deliveries[0].last_error) == (
        1,
        "HTTP 404 Not Found: receiver <failed> & said so",
    )
    assert (second.deliveries[0].attempts, second.deliveries[0].status) == (2, "failed")
    assert store.delivery_counts(db) == {"pending": 0, "retrying": 0, "delivered": 0, "failed": 2}
    assert receiver.plan == [200]  # no third attempt was made


# -- the daemon: never held up, nothing twice across restarts and hand-overs ----------------------


def test_a_hanging_receiver_does_not_delay_the_daemons_dispatch(
    pg_url: str, scrapyd: list[ScrapydNode], mockserver: Any, receiver: Receiver
) -> None:
    from scheduler.app import build_app
    from tests.test_scheduler_scrapyd import DISPATCHED, add_every, nodes_setting, runs_of

    receiver.plan = ["hang"]
    schedule_id = add_every(pg_url, "busy", 1, mockserver("/article"))
    with open_database(pg_url) as db:
        crawl_reported_failure(db, "an event for the receiver that hangs")
    settings = ProjectSettings.load(
        {
            "DATABASE_URL": pg_url,
            "SCRAPYD_NODES": nodes_setting(scrapyd),
            "SCRAPERQ_SCHEDULER_TICK": 0.2,
            "SCRAPERQ_SCHEDULER_TRACK_INTERVAL": 0.3,
            "SCRAPERQ_ALERT_WEBHOOK": receiver.url(),
            "SCRAPERQ_ALERT_INTERVAL": 0.2,
            "SCRAPERQ_ALERT_TIMEOUT": 600.0,  # the receiver holds the delivery for the whole test
        }
    )
    app = build_app(settings)
    loop = threading.Thread(target=app.daemon.run, name="daemon-under-test")
    loop.start()
    try:
        wait_for(receiver.hanging.is_set, timeout=60, message="the receiver to hold a delivery")

        def progress() -> tuple[int, int]:
            """Fire times handled (run, or skipped while the previous run goes on) and jobs dispatched."""
            runs = runs_of(pg_url, schedule_id)
            return len(runs), len([r for r in runs if r.status in DISPATCHED])

        handled, dispatched = progress()
        wait_for(
            lambda: (lambda now: now[0] >= handled + 3 and now[1] >= dispatched + 1)(progress()),
            timeout=60,
            message="three more fire times and a dispatch while the receiver holds the delivery",
        )
        assert receiver.hanging.is_set()
        [held] = [a for a in recorded(app.db, "job.failed") if "the receiver that hangs" in a.summary]
        assert [(d.status, d.attempts) for d in held.deliveries] == [("pending", 1)]
    finally:
        app.daemon.request_stop()
        loop.join(60)
        app.close()
    assert not loop.is_alive()  # stopping does not wait for the receiver either


def test_a_delivery_under_retry_is_sent_once_by_the_daemon_that_takes_over_and_never_again(
    pg_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    from tests.test_scheduler_scrapyd import Daemon

    receiver.plan = [500]
    secret = uuid.uuid4().hex
    hook = receiver.url(f"/services/T0000/B0000/{secret}")
    env = crawl_env(
        pg_url,
        SCRAPYD_NODES=f"http://127.0.0.1:{free_port()}",
        SCRAPERQ_SCHEDULER_TICK="0.2",
        SCRAPERQ_ALERT_WEBHOOK=hook,
        SCRAPERQ_ALERT_INTERVAL="0.2",
        SCRAPERQ_ALERT_RETRY_BACKOFF="3",
        SCRAPERQ_ALERT_NODE_DOWN_AFTER="3600",
    )
    with open_database(pg_url) as db:
        crawl_reported_failure(db, "told once")
        daemons = [Daemon(env, tmp_path / "a.log"), Daemon(env, tmp_path / "b.log")]
        try:
            leader = wait_for(lambda: next((d for d in daemons if d.leads()), None), timeout=30, message="a leader")
            standby = next(d for d in daemons if d is not leader)
            wait_for(lambda: "standing by" in standby.log(), timeout=30, message="the other daemon to stand by")

            def tried_once() -> bool:
                deliveries = store.recent_deliveries(db)
                return bool(deliveries) and deliveries[0].attempts == 1 and deliveries[0].last_error is not None

            wait_for(tried_once, timeout=30, message="a first attempt refused with 500")
            leader.kill()  # mid-retry: the next attempt is due in 3 s
            wait_for(standby.leads, timeout=30, message="the standby daemon to take over")
            wait_for(lambda: receiver.bodies(), timeout=30, message="the retry from the new leader")
            # A restart after the delivery, and another event: the first is not sent again.
            standby.stop()
            daemons.append(Daemon(env, tmp_path / "c.log"))
            crawl_reported_failure(db, "sentinel")
            wait_for(lambda: len(receiver.bodies()) == 2, timeout=30, message="the sentinel event")
        finally:
            for daemon in daemons:
                daemon.stop()
        everything = recorded(db)

    [first] = [a for a in everything if "told once" in a.summary]
    assert [r.answer for r in receiver.requests_for(first.event_id)] == [500, 200]
    assert len(everything) == 2  # neither daemon raised the same failure again
    logs = "".join(d.log() for d in daemons)
    assert "Alert " not in standby.log().split("became the leader")[0]  # a standby neither raises nor sends
    assert secret not in logs and "T0000" not in logs
    assert f"webhook {redact_webhook(hook)}" in logs and redact_webhook(hook).endswith("/***")


# -- nodes: a real Scrapyd node stopped and started -------------------------------------------------


def restart(node: ScrapydNode) -> None:
    """Start the stopped node again on its port, in its folder (its eggs are still there)."""
    node.log = open(node.folder / "scrapyd.log", "ab")  # noqa: SIM115 - open for the node's lifetime
    node.proc = subprocess.Popen(
        [str(BIN / "scrapyd"), "--pidfile="],
        cwd=node.folder,
        env={**crawl_env("sqlite:///unused"), **node.auth, "SCRAPYD_HTTP_PORT": str(node.port)},
        stdout=node.log,
        stderr=subprocess.STDOUT,
    )
    wait_for(node.answers, timeout=60, message="Scrapyd to answer again")


def test_a_scrapyd_node_going_down_and_up_is_two_events_each_time(
    pg_url: str, scrapyd_egg: Path, tmp_path: Path, receiver: Receiver, start_alerts: Any
) -> None:
    node = ScrapydNode(tmp_path / "node", crawl_env("sqlite:///unused"))
    db = open_database(pg_url)
    alerts: Alerts | None = None
    try:
        node.deploy(scrapyd_egg)
        client = ScrapydClient(project="scraperq", timeout=2.0)
        pool = NodePool(parse_nodes(node.url, default_capacity=1), client, max_age=0.0, down_retry=0.0)
        config = config_for(("webhook", receiver.url()), node_down_after=0.5)
        alerts = start_alerts(config, db, pool)

        def told(event_type: str, count: int) -> bool:
            alerts.check()
            return len(recorded(db, event_type)) == count

        alerts.check()
        assert recorded(db) == []  # up, as a node is taken to be
        for flap in (1, 2):
            node.stop()
            wait_for(lambda flap=flap: told("node.down", flap), timeout=30, message="node.down")
            # Another daemon taking over while the node is still down does not tell it again.
            assert Alerts(config_for(node_down_after=0.0), db, NodePool(pool.nodes, client)).check() == 0
            restart(node)
            wait_for(lambda flap=flap: told("node.up", flap), timeout=30, message="node.up")
        bodies = wait_for(lambda: len(receiver.bodies()) == 4 and receiver.bodies(), message="four deliveries")
    finally:
        node.stop()
        if alerts is not None:
            alerts.stop()
        db.close()

    assert [(b["type"], b["id"]) for b in bodies] == [
        ("node.down", f"node.down:{node.name}:1"),
        ("node.up", f"node.up:{node.name}:2"),
        ("node.down", f"node.down:{node.name}:3"),
        ("node.up", f"node.up:{node.name}:4"),
    ]
    for body in bodies:
        VALIDATOR.validate(body)
    assert bodies[0]["summary"].startswith(f"Scrapyd node {node.name} is down: {node.name} is unreachable: ")
    assert bodies[1]["summary"].startswith(f"Scrapyd node {node.name} is back up (down since ")


# -- dead letters ---------------------------------------------------------------------------


def test_dead_letters_passing_the_threshold_are_told_once_until_they_drop_below_it(
    db: Database, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    alerts = Alerts(
        config_for(dead_letters=5),
        db,
        None,
        redis_factory=lambda: redis.Redis.from_url(redis_url),
        project_spiders=lambda: ["generic", "books"],
    )

    def told() -> list[tuple[str, int]]:
        alerts.check()
        return [(a.payload["spider"], a.payload["details"]["dead_letters"]) for a in recorded(db)][::-1]

    client.lpush("books:dead", *["{}"] * 4)
    assert told() == []
    client.lpush("books:dead", "{}")
    assert told() == [("books", 5)]
    client.lpush("books:dead", *["{}"] * 10)
    assert told() == [("books", 5)]
    client.ltrim("books:dead", 0, 1)  # requeued or purged: the alert is armed again
    assert told() == [("books", 5)]
    client.lpush("books:dead", *["{}"] * 7)
    assert told() == [("books", 5), ("books", 9)]


# -- settings -----------------------------------------------------------------------------------


def test_webhooks_come_from_the_environment_and_a_settings_file_naming_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "https://hooks.slack.com/services/T000/B000/abcdefSECRET"
    settings = ProjectSettings.load(environ={"SCRAPERQ_ALERT_SLACK_WEBHOOK": secret})
    config = AlertConfig.from_settings(settings)
    assert [(d.name, d.shown) for d in config.destinations] == [("slack", "https://hooks.slack.com/***")]
    assert "SECRET" not in repr(config)

    (tmp_path / "committed_settings.py").write_text(f"SCRAPERQ_ALERT_WEBHOOK = {secret!r}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError) as refused:
        ProjectSettings.load(environ={"SCRAPY_SETTINGS_MODULE": "committed_settings"})
    assert str(refused.value) == (
        "SCRAPERQ_ALERT_WEBHOOK is set in committed_settings: it is a secret, set it in the environment only"
    )


@given(
    scheme=st.sampled_from(["http", "https", "ftp", "file"]),
    password=st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=20),
    token=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=8, max_size=30),
)
def test_a_webhook_url_shows_in_messages_without_its_path_query_or_password(
    scheme: str, password: str, token: str
) -> None:
    url = f"{scheme}://user:{password}@hooks.example.com:8443/services/{token}?key={token}"

    shown = redact_webhook(url)
    try:
        AlertConfig.from_settings({"SCRAPERQ_ALERT_WEBHOOK": url})
        message = ""
    except ConfigError as exc:
        message = str(exc)

    assert shown == f"{scheme}://hooks.example.com:8443/***"
    assert token not in shown + message and password not in shown + message
    assert bool(message) == (scheme not in ("http", "https"))


def test_a_schedule_may_set_its_own_alert_settings_checked_like_any_setting(sqlite_url: str) -> None:
    from scheduler.service import FieldError, ScheduleService

    with open_database(sqlite_url) as db:
        service = ScheduleService(db, ProjectSettings.load(environ={}))
        accepted = service.check_settings({"SCRAPERQ_ALERT_EMPTY_RUNS": "0", "SCRAPERQ_ALERT_FAILURES_IN_A_ROW": "5"})
        with pytest.raises(FieldError) as refused:
            service.check_settings({"SCRAPERQ_ALERT_EMPTY_RUNS": "sometimes"})

    assert accepted == {"SCRAPERQ_ALERT_EMPTY_RUNS": "0", "SCRAPERQ_ALERT_FAILURES_IN_A_ROW": "5"}
    assert refused.value.field == "settings.SCRAPERQ_ALERT_EMPTY_RUNS"
