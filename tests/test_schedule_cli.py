"""``scraperq schedule``: managing schedules from the command line, and refusing bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scraperq.storage import jobs, open_database
from scraperq.storage.schedules import add_schedule, list_schedules
from tests.helpers import free_port, scraperq


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
        (["--every", "1h", "--timezone", "UTC"], "--timezone applies to --cron schedules"),
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


def test_run_with_no_node_reachable_fails_in_one_line_and_records_nothing(database: str) -> None:
    with open_database(database) as db:
        add_schedule(db, name="now", spider="generic", interval_seconds=3600)
    nowhere = f"http://127.0.0.1:{free_port()}"

    done = scraperq(database, "schedule", "run", "now", SCRAPYD_NODES=nowhere)

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert f"not run: no Scrapyd node accepted the job: {nowhere} is unreachable" in done.stderr
    with open_database(database) as db:
        assert jobs.recent_runs(db) == []


def test_an_unknown_schedule_is_named_in_the_error(database: str) -> None:
    done = scraperq(database, "schedule", "pause", "ghost")

    assert (done.returncode, done.stderr) == (2, "scraperq: error: no schedule named 'ghost'\n")
