"""What to do with a schedule whose fire time has come: run it, skip it, or record it missed.

One transaction per schedule, with the schedule's row locked: it reads
``next_fire_time``, records every fire time up to now in ``job_runs`` and moves
``next_fire_time`` past now. Two daemons (or a daemon and its restarted self)
therefore cannot both act on one fire time: the second finds ``next_fire_time``
already moved, and ``job_runs_once_idx`` refuses a second row for it besides.

Fire times found late (no daemon was running, or it was busy) follow the
policy APScheduler calls ``coalesce=True`` with ``misfire_grace_time`` set to
``SCRAPERQ_MISFIRE_GRACE``: the latest fire time due runs if it is no older than
the grace period, and every earlier one is recorded ``missed``, with the reason
("coalesced into the run for ..." or "no scheduler was running ..."), one row
each up to :data:`MAX_RECORDED`, then one note for the rest. Nothing is dropped
without a row saying so.

Never overlap (APScheduler's ``max_instances=1``, but for the crawl, not for the
call that starts it): while the schedule has a run dispatching, pending or
running on any node, the fire time is recorded ``skipped`` with the reason. The
caller refreshes those runs from Scrapyd first, so a run that has just ended
does not cause a skip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scheduler.dispatch import ClaimedRun, new_job_id
from scheduler.triggers import FireTimes, between, fire_times_for, latest_fire_time
from scraperq.errors import Conflict, NotFound
from scraperq.storage import jobs, schedules
from scraperq.storage.connection import Cursor, Database
from scraperq.storage.jobs import JobRun
from scraperq.storage.schedules import Schedule

# Fire times recorded one by one when many were missed; the last row notes the rest.
MAX_RECORDED = 100


@dataclass
class FireOutcome:
    """What one look at a due schedule did."""

    claimed: ClaimedRun | None = None
    skipped: list[datetime] = field(default_factory=list)
    missed: int = 0


def handle_due(db: Database, schedule_id: int, now: datetime, *, grace: float) -> FireOutcome:
    """Record every fire time of the schedule up to ``now``; return the run to dispatch, if any."""
    outcome = FireOutcome()
    with db.transaction() as cur:
        schedule = schedules.lock_schedule(cur, schedule_id)
        if schedule is None or not schedule.enabled:
            return outcome
        fire_times = fire_times_for(schedule)
        first_due = schedule.next_fire_time
        if first_due is not None and first_due > now:
            return outcome  # not due yet: an earlier pass, or another daemon, moved it on
        latest = None if first_due is None else latest_fire_time(fire_times, first_due, now)
        if first_due is not None and latest is not None:
            runs = latest >= now - timedelta(seconds=grace)
            outcome.missed = _record_missed(cur, schedule, fire_times, first_due, latest, runs, now)
            if runs:
                active = jobs.active_runs_of(cur, schedule.id)
                if active:
                    _record(cur, schedule, latest, "skipped", overlap_reason(active[-1]), now)
                    outcome.skipped.append(latest)
                else:
                    outcome.claimed = _claim(cur, schedule, latest, now)
        schedules.set_next_fire_time(cur, schedule.id, fire_times.next_after(now))
    return outcome


def overlap_reason(previous: JobRun) -> str:
    where = f" on {previous.node}" if previous.node else ""
    job = previous.scrapyd_job_id or f"run {previous.id}"
    return f"previous run {job} is still {previous.status}{where}"


def _record_missed(
    cur: Cursor,
    schedule: Schedule,
    fire_times: FireTimes,
    first_due: datetime,
    latest: datetime,
    latest_runs: bool,
    now: datetime,
) -> int:
    """Record the fire times from ``first_due`` before ``latest`` (and ``latest`` itself unless it runs)."""
    until = latest - timedelta(microseconds=1) if latest_runs else latest
    missed = between(fire_times, first_due, until, limit=MAX_RECORDED + 1)
    recorded = 0
    for i, fire_time in enumerate(missed[:MAX_RECORDED]):
        if latest_runs:
            note = f"missed: coalesced into the run for {latest.isoformat(timespec='seconds')}"
        else:
            note = "missed: no scheduler was running within the grace period after this fire time"
        if i == MAX_RECORDED - 1 and len(missed) > MAX_RECORDED:
            note += f"; so were the later fire times up to {until.isoformat(timespec='seconds')}"
        recorded += _record(cur, schedule, fire_time, "missed", note, now)
    return recorded


def _record(cur: Cursor, schedule: Schedule, fire_time: datetime, status: str, note: str, now: datetime) -> int:
    done = jobs.record_outcome(
        cur, schedule_id=schedule.id, spider=schedule.spider, fire_time=fire_time, status=status, error=note, now=now
    )
    return int(done)


def _claim(cur: Cursor, schedule: Schedule, fire_time: datetime, now: datetime) -> ClaimedRun | None:
    job_id = new_job_id()
    run_id = jobs.claim(
        cur, schedule_id=schedule.id, spider=schedule.spider, fire_time=fire_time, job_id=job_id, now=now
    )
    return None if run_id is None else claimed_run(run_id, job_id, schedule, fire_time, now)


def claimed_run(run_id: int, job_id: str, schedule: Schedule, fire_time: datetime, claimed_at: datetime) -> ClaimedRun:
    return ClaimedRun(
        run_id=run_id,
        job_id=job_id,
        schedule_name=schedule.name,
        spider=schedule.spider,
        args=dict(schedule.args),
        settings=dict(schedule.settings),
        fire_time=fire_time,
        claimed_at=claimed_at,
    )


def claim_request(db: Database, run: JobRun, now: datetime, *, expire_after: float) -> ClaimedRun | None:
    """Take a run requested by hand (``scraperq schedule run``, the API) for dispatch, once across daemons.

    A request older than ``expire_after`` seconds is recorded ``missed`` rather than run late; one whose
    schedule has meanwhile started another run is recorded ``skipped``; one whose schedule was removed,
    ``failed``. None when it is not to be dispatched (or another daemon took it).
    """
    with db.transaction() as cur:
        schedule = schedules.lock_schedule(cur, run.schedule_id) if run.schedule_id is not None else None
        if not jobs.take_request(cur, run.id):
            return None
        requested_at = run.created_at or now
        reason = None
        if schedule is None:
            status, reason = "failed", "its schedule was removed before the run was dispatched"
        elif (now - requested_at).total_seconds() > expire_after:
            status, reason = "missed", "missed: no scheduler dispatched the request within the grace period"
        else:
            others = [r for r in jobs.active_runs_of(cur, schedule.id) if r.id != run.id]
            if others:
                status, reason = "skipped", overlap_reason(others[-1])
        if reason is not None:
            cur.execute(
                "UPDATE job_runs SET status = %s, error = %s, finished_at = %s WHERE id = %s",
                (status, reason, now, run.id),
            )
            return None
    assert schedule is not None
    return claimed_run(run.id, run.scrapyd_job_id or new_job_id(), schedule, run.fire_time or now, now)


def claim_manual(db: Database, name: str, now: datetime) -> ClaimedRun:
    """Claim a run of the schedule now (``scraperq schedule run``), unless its previous run is still going."""
    with db.transaction() as cur:
        found = cur.execute("SELECT id FROM schedules WHERE name = %s", (name,)).fetchone()
        schedule = schedules.lock_schedule(cur, int(found["id"])) if found else None
        if schedule is None:
            raise NotFound(f"no schedule named {name!r}")
        active = jobs.active_runs_of(cur, schedule.id)
        if active:
            raise Conflict(f"schedule {name!r} is still busy: {overlap_reason(active[-1])}")
        job_id = new_job_id()
        run_id = jobs.claim(
            cur, schedule_id=schedule.id, spider=schedule.spider, fire_time=now, job_id=job_id, origin="manual", now=now
        )
        if run_id is None:
            raise Conflict(f"schedule {name!r} was run at this very instant already")
    return claimed_run(run_id, job_id, schedule, now, now)
