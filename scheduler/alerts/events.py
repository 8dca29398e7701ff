"""Alert events: their types, their stable ids, and the JSON body a webhook receives.

An event's id names what happened, not when it was noticed, so that seeing the
same thing again (next pass, another daemon, after a restart) gives the same id
and the database keeps one row (``scraperq.storage.alerts``):

==========================  ==========================================================  ===================
type                        raised when                                                 id
==========================  ==========================================================  ===================
``job.failed``              a job run ended ``failed`` (lost runs included)             run id, end time
``maintenance.failed``      the daily maintenance run ended ``failed``                  run id, end time
``schedule.failing``        a schedule's runs failed N times in a row                   schedule, first run
``schedule.empty``          a schedule's run finished and stored no item                run id
``node.down``               a Scrapyd node stayed unreachable (or lost the project)     node, change number
``node.up``                 a node that was down answers again                          node, change number
``dead_letters.threshold``  a spider's ``<spider>:dead`` list reached the threshold     spider, change number
==========================  ==========================================================  ===================

A streak of failures is one ``schedule.failing`` however long it lasts (its id is
the run that made it N); a finished run ends it, and the next streak is a new
event. A node going down and coming back is two events, each time it happens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from scraperq.storage.alerts import EndedRun
from scraperq.storage.export import iso_utc

EVENT_TYPES = (
    "job.failed",
    "maintenance.failed",
    "schedule.failing",
    "schedule.empty",
    "node.down",
    "node.up",
    "dead_letters.threshold",
)
# The shape of the JSON body; raised if a field changes meaning or goes away.
PAYLOAD_VERSION = 1
MAINTENANCE_ORIGIN = "maintenance"
_SUMMARY_LIMIT = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: object, limit: int = _SUMMARY_LIMIT) -> str:
    """``text`` on one line: control characters (newlines included) become a space; cut at ``limit``."""
    flat = " ".join(_CONTROL.sub(" ", str(text)).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    time: datetime  # when it happened (a run's end, a node first seen down), not when it was noticed
    summary: str
    spider: str | None = None
    node: str | None = None
    schedule: dict[str, Any] | None = None
    job: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def payload(self, console_url: str | None) -> dict[str, Any]:
        """The JSON body (README: Alerts)."""
        return {
            "version": PAYLOAD_VERSION,
            "id": self.id,
            "type": self.type,
            "time": iso_utc(self.time),
            "summary": one_line(self.summary),
            "schedule": self.schedule,
            "job": self.job,
            "node": self.node,
            "spider": self.spider,
            "link": console_link(console_url, self),
            "details": self.details,
        }


def console_link(console_url: str | None, event: Event) -> str | None:
    """Where on the console to look. The console is one page; a fragment names the part of it, so a
    link works (at worst it opens the page) whatever the console shows."""
    if not console_url:
        return None
    base = console_url.rstrip("/") + "/"
    if event.job is not None:
        return f"{base}#job-{event.job['id']}"
    if event.schedule is not None:
        return f"{base}#schedule-{quote(str(event.schedule['name']), safe='')}"
    if event.type.startswith("node."):
        return f"{base}#nodes"
    if event.spider is not None:
        return f"{base}#dead-{quote(event.spider, safe='')}"
    return base


# -- job runs ------------------------------------------------------------------------------


def _job(run: EndedRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "scrapyd_job_id": run.scrapyd_job_id,
        "status": run.status,
        "origin": run.origin,
        "error": run.error,
        "fire_time": _time(run.fire_time),
        "started_at": _time(run.started_at),
        "finished_at": _time(run.finished_at),
        "items": run.item_count,
        "pages": run.pages,
        "tasks": run.task_count,
        "tasks_failed": run.tasks_failed,
    }


def _schedule(run: EndedRun) -> dict[str, Any] | None:
    if run.schedule_id is None:
        return None
    return {"id": run.schedule_id, "name": run.schedule_name}


def _time(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)


def _run_words(run: EndedRun) -> str:
    job = f"Job {run.scrapyd_job_id}" if run.scrapyd_job_id else f"Run {run.id}"
    of = f" of schedule {run.schedule_name}" if run.schedule_name else ""
    return f"{job}{of} (spider {run.spider})"


def job_failed(run: EndedRun) -> Event:
    """A failed run; the daily maintenance run raises ``maintenance.failed``."""
    end = run.finished_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    if run.origin == MAINTENANCE_ORIGIN:
        return Event(
            id=f"maintenance.failed:{run.id}:{end}",
            type="maintenance.failed",
            time=run.finished_at,
            summary=f"The maintenance run (retention) failed: {run.error or 'no reason recorded'}",
            job=_job(run),
        )
    where = f" on {run.node}" if run.node else ""
    return Event(
        # The end time too: a run given up as lost that reports itself again, and fails later, is news.
        id=f"job.failed:{run.id}:{end}",
        type="job.failed",
        time=run.finished_at,
        summary=f"{_run_words(run)} failed{where}: {run.error or 'no reason recorded'}",
        spider=run.spider,
        node=run.node,
        schedule=_schedule(run),
        job=_job(run),
    )


def schedule_failing(latest: EndedRun, *, first_run_id: int, failures: int, threshold: int) -> Event:
    """``latest`` is the newest failed run of the streak; the streak is known by its N-th run."""
    return Event(
        id=f"schedule.failing:{latest.schedule_id}:{first_run_id}",
        type="schedule.failing",
        time=latest.finished_at,
        summary=(
            f"Schedule {latest.schedule_name} (spider {latest.spider}) has failed {failures} times in a row;"
            f" last error: {latest.error or 'no reason recorded'}"
        ),
        spider=latest.spider,
        node=latest.node,
        schedule=_schedule(latest),
        job=_job(latest),
        details={"failures_in_a_row": failures, "threshold": threshold, "streak_reached_at_run": first_run_id},
    )


def schedule_empty(run: EndedRun) -> Event:
    return Event(
        id=f"schedule.empty:{run.id}",
        type="schedule.empty",
        time=run.finished_at,
        summary=(
            f"{_run_words(run)} finished and stored nothing: 0 items from {run.pages} pages"
            f" and {run.task_count} tasks ({run.tasks_failed} failed)"
        ),
        spider=run.spider,
        node=run.node,
        schedule=_schedule(run),
        job=_job(run),
    )


# -- nodes and queues ----------------------------------------------------------------------


def node_down(node: str, *, error: str, since: datetime, change: int) -> Event:
    return Event(
        id=f"node.down:{node}:{change}",
        type="node.down",
        time=since,
        summary=f"Scrapyd node {node} is down: {error}",
        node=node,
        details={"error": one_line(error)},
    )


def node_up(node: str, *, at: datetime, down_since: datetime | None, change: int) -> Event:
    since = f" (down since {iso_utc(down_since)})" if down_since else ""
    return Event(
        id=f"node.up:{node}:{change}",
        type="node.up",
        time=at,
        summary=f"Scrapyd node {node} is back up{since}",
        node=node,
        details={"down_since": _time(down_since)},
    )


def dead_letters(spider: str, *, count: int, threshold: int, at: datetime, change: int) -> Event:
    return Event(
        id=f"dead_letters.threshold:{spider}:{change}",
        type="dead_letters.threshold",
        time=at,
        summary=(
            f"Spider {spider} has {count} dead letters (threshold {threshold});"
            f" see them with: scraperq dead list --spider {spider}"
        ),
        spider=spider,
        details={"dead_letters": count, "threshold": threshold},
    )


# -- Slack ---------------------------------------------------------------------------------

_SLACK_MARK = {
    "job.failed": ":x:",
    "maintenance.failed": ":x:",
    "schedule.failing": ":rotating_light:",
    "schedule.empty": ":warning:",
    "node.down": ":red_circle:",
    "node.up": ":large_green_circle:",
    "dead_letters.threshold": ":warning:",
}


def slack_text(payload: dict[str, Any]) -> str:
    """A Slack message for the payload: mark, type, summary, and the console link if there is one.

    Slack reads ``&``, ``<`` and ``>`` as markup, so they are escaped in anything that came from data.
    """
    mark = _SLACK_MARK.get(str(payload.get("type")), ":bell:")
    text = f"{mark} *{_slack_escape(str(payload.get('type')))}*: {_slack_escape(str(payload.get('summary') or ''))}"
    link = payload.get("link")
    if link:
        text += f" <{_slack_escape(str(link))}|open in the console>"
    return text


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
