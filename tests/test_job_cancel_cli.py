"""``scraperq job cancel ID``: the command, run in this process against SQLite and PostgreSQL.

(Cancelling a running crawl on a real Scrapyd node through the same code is in tests/test_console.py.)
"""

from __future__ import annotations

from typing import Any

from scraperq.storage import jobs
from scraperq.storage.connection import utcnow
from scraperq.storage.schedules import add_schedule
from tests.helpers import free_port, scraperq


def test_job_cancel_stops_a_requested_run_and_refuses_what_cannot_stop(db: Any) -> None:
    schedule = add_schedule(db, name="s", spider="generic", interval_seconds=60)
    with db.transaction() as cur:
        run_id = jobs.request_run(cur, schedule_id=schedule.id, spider="generic", job_id="c" * 32, now=utcnow())
    nodes = f"http://127.0.0.1:{free_port()}"  # nobody listens: a requested run needs no node

    done = scraperq(db.url, "job", "cancel", str(run_id), SCRAPYD_NODES=nodes)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Cancelled job run {run_id} (generic, Scrapyd job {'c' * 32}) before dispatch"
    run = jobs.get_run(db, run_id)
    assert (run.status, run.finished_at is not None) == ("cancelled", True)
    again = scraperq(db.url, "job", "cancel", str(run_id), SCRAPYD_NODES=nodes)
    assert (again.returncode, again.stderr.count("\n")) == (2, 1)
    assert "is cancelled already" in again.stderr
    for bad, words in (("999", "no job run with id 999"), ("x1", "not a whole number")):
        refused = scraperq(db.url, "job", "cancel", bad, SCRAPYD_NODES=nodes)
        assert refused.returncode == 2 and words in refused.stderr, refused.stderr
