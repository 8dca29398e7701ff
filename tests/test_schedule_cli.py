"""``scraperq schedule``: managing schedules from the command line, and refusing bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scraperq.storage import jobs, open_database
from scraperq.storage.schedules import add_schedule, get_schedule, list_schedules
from tests.helpers import scraperq


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'scraperq.sqlite3'}"


def schedule_list(database: str) -> list[dict]:
    done = scraperq(database, "schedule", "list", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_schedule_is_added_listed_paused_resumed_and_removed(database: str) -> None:
    added = scraperq(
        database,
        *("schedule", "add", "nightly", "--spider", "generic", "--cron", "0 0 * * *", "--timezone", "Asia/Seoul"),
        *("--arg", "url=https://example.com/", "--setting", "DOWNLOAD_DELAY=2"),
    )
    assert added.returncode == 0, added.stderr
    assert "cron '0 0 * * *' Asia/Seoul" in added.stdout

    [listed] = schedule_list(database)
    assert listed["args"] == {"url": "https://example.com/"} and listed["settings"] == {"DOWNLOAD_DELAY": "2"}
    assert listed["next_fire_time"].endswith("T15:00:00+00:00")  # midnight in Seoul

    assert scraperq(database, "schedule", "pause", "nightly").returncode == 0
    [paused] = schedule_list(database)
    assert (paused["enabled"], paused["next_fire_time"]) == (False, None)

    assert scraperq(database, "schedule", "resume", "nightly").returncode == 0
    shown = scraperq(database, "schedule", "show", "nightly")
    assert "state:     active" in shown.stdout and "url=https://example.com/" in shown.stdout

    assert scraperq(database, "schedule", "remove", "nightly").returncode == 0
    assert schedule_list(database) == []


def test_an_interval_schedule_takes_a_duration(database: str) -> None:
    added = scraperq(database, "schedule", "add", "often", "--spider", "generic", "--every", "15m")

    assert added.returncode == 0, added.stderr
    [listed] = schedule_list(database)
    assert (listed["interval_seconds"], listed["cron"]) == (900, None)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--cron", "61 * * * *"], "invalid cron expression '61 * * * *'"),
        (["--cron", "0 0 * * *", "--timezone", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (["--every", "0s"], "the interval must be at least 1 second"),
        (["--every", "1h", "--spider", "nosuch"], "unknown spider 'nosuch'"),
        (["--every", "1h", "--name", "taken"], "a schedule named 'taken' already exists"),
        (["--every", "1h", "--timezone", "UTC"], "--timezone: a time zone applies to cron schedules"),
        # As the crawl itself would refuse them at start, every run: refused now, before anything is stored.
        (["--every", "10s", "--arg", "url=not-a-url"], "--arg url: invalid URL 'not-a-url'"),
        (["--every", "1h", "--arg", "url=https://example.com/", "--arg", "depth=2"], "--arg depth: nothing is"),
        (["--every", "1h", "--arg", "colour=red"], "--arg colour: generic has no argument 'colour'"),
        (["--every", "1h", "--setting", "DOWNLOAD_DELAY=abc"], "--setting DOWNLOAD_DELAY: 'abc': not a number"),
    ],
)
def test_bad_input_gets_one_line_exit_2_and_changes_nothing(database: str, options: list[str], message: str) -> None:
    with open_database(database) as db:
        add_schedule(db, name="taken", spider="generic", interval_seconds=3600)
    name = "taken" if "--name" in options else "new"
    options = [o for o in options if o not in ("--name", "taken")]
    spider = [] if "--spider" in options else ["--spider", "generic"]

    done = scraperq(database, "schedule", "add", name, *spider, *options)

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("scraperq: error: ")
    assert message in done.stderr
    with open_database(database) as db:
        assert [s.name for s in list_schedules(db)] == ["taken"]


def test_run_with_no_daemon_leading_says_so_in_one_line_and_records_nothing(database: str) -> None:
    with open_database(database) as db:
        add_schedule(db, name="now", spider="generic", interval_seconds=3600)

    done = scraperq(database, "schedule", "run", "now")

    assert done.returncode == 2
    assert (
        done.stderr
        == "scraperq: error: no scheduler daemon is running to dispatch the run: start `scraperq scheduler`\n"
    )
    with open_database(database) as db:
        assert jobs.recent_runs(db) == []


def test_an_unknown_schedule_is_named_in_the_error(database: str) -> None:
    done = scraperq(database, "schedule", "pause", "ghost")

    assert (done.returncode, done.stderr) == (2, "scraperq: error: no schedule named 'ghost'\n")


# -- in-process: the command's own behaviour, no process needed ---------------------------------


def cli(database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    from scraperq.cli import main

    monkeypatch.setenv("DATABASE_URL", database)
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_edit_changes_a_schedule_in_place_and_keeps_its_history(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    added = cli(
        database,
        monkeypatch,
        capsys,
        "schedule",
        "add",
        "wk",
        "--spider",
        "generic",
        "--every",
        "1h",
        "--arg",
        "url=https://example.com/",
        "--arg",
        "allow=/x/",
        "--arg",
        "follow=same-host",
    )
    assert added[0] == 0, added
    with open_database(database) as db:
        before = get_schedule(db, "wk")
        with db.transaction() as cur:
            jobs.record_outcome(
                cur, schedule_id=before.id, spider="generic", fire_time=before.created_at, status="missed", error="x"
            )

    code, out, err = cli(
        database,
        monkeypatch,
        capsys,
        "schedule",
        "edit",
        "wk",
        "--cron",
        "30 9 * * 1-5",
        "--timezone",
        "America/New_York",
        "--unset-arg",
        "allow",
        "--arg",
        "depth=2",
        "--setting",
        "DOWNLOAD_DELAY=0.5",
    )

    assert code == 0, err
    assert out.startswith("Changed schedule wk: generic, cron '30 9 * * 1-5' America/New_York; next run ")
    with open_database(database) as db:
        after = get_schedule(db, "wk")
        history = jobs.recent_runs(db, schedule_id=after.id)
    assert after.id == before.id and len(history) == 1
    assert after.args == {"url": "https://example.com/", "follow": "same-host", "depth": "2"}
    assert after.settings == {"DOWNLOAD_DELAY": "0.5"}
    local = after.next_fire_time.astimezone(ZoneInfo("America/New_York"))
    assert (local.strftime("%H:%M"), local.isoweekday() <= 5) == ("09:30", True)

    refused = cli(database, monkeypatch, capsys, "schedule", "edit", "wk", "--unset-arg", "follow")
    assert refused[0] == 2
    assert (
        refused[2] == "scraperq: error: --arg depth: nothing is followed with follow=none; add -a follow=same-domain\n"
    )
    with open_database(database) as db:
        assert get_schedule(db, "wk").args == after.args  # unchanged


def test_run_is_dispatched_by_the_leading_daemon_from_a_shell_with_only_the_database(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scraperq.storage import leader
    from scraperq.storage.connection import utcnow

    with open_database(database) as db:
        add_schedule(db, name="now", spider="generic", interval_seconds=3600)
        leader.beat(db, "scheduler-host:4242", utcnow())
    monkeypatch.delenv("SCRAPYD_NODES", raising=False)

    code, out, _ = cli(database, monkeypatch, capsys, "schedule", "run", "now", "--no-wait")

    assert code == 0 and out.startswith("Schedule now: run 1 requested as job ")
    with open_database(database) as db:
        [run] = jobs.recent_runs(db)
    assert (run.status, run.origin, run.node) == ("requested", "manual", None)
    again = cli(database, monkeypatch, capsys, "schedule", "run", "now")
    assert again[0] == 2 and "is still busy" in again[2]


def test_without_the_schedulers_dependencies_schedule_says_what_to_install(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "cronsim", None)  # as if it were not installed
    for name in [m for m in sys.modules if m.startswith("scheduler")]:
        monkeypatch.delitem(sys.modules, name)

    code, _, err = cli(database, monkeypatch, capsys, "schedule", "list")

    assert code == 2
    assert err == (
        "scraperq: error: `scraperq schedule` needs the scheduler's dependencies, which are not installed"
        " (cronsim is missing): pip install 'scraperq[scheduler]'\n"
    )
    assert cli(database, monkeypatch, capsys, "tasks")[0] == 0  # the rest of the CLI works
