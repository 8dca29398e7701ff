"""The console's panels, each rendered on the server from the database, Redis and the nodes.

The page (``scheduler.api.dashboard``) is made of these; its script asks for one
again (``/?part=jobs&jobs_status=failed``) every few seconds and when a filter or
a page changes, and puts the HTML in place, so there is one renderer for the
first load and for live updates. Filters and pages are query parameters named
``<part>_<filter>``, so a link to the page keeps what it shows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.api import charts as chart_panel
from scheduler.api.context import ApiContext
from scheduler.api.html import Cell, badge, button, duration, error, escape, link, num, table, text, when
from scheduler.api.http import ApiError
from scheduler.api.queues import project_spiders, queue_sizes
from scraperq.errors import BadInput, ConfigError, StorageUnavailable
from scraperq.storage import jobs
from scraperq.storage import schedules as store
from scraperq.storage.connection import utcnow
from scraperq.storage.jobs import JobRun
from scraperq.storage.results import count_results, latest_results
from scraperq.storage.tasks import STATUSES as TASK_STATUSES
from scraperq.storage.tasks import count_by_status, list_tasks
from scraperq.times import parse_when

PAGE = 25
Query = Mapping[str, str]


def _int(query: Query, name: str) -> int | None:
    value = query.get(name) or ""
    if not value:
        return None
    if not value.isdigit() or not 0 < int(value) < 2**63:
        raise ApiError(400, f"query parameter {name}={value!r} must be a whole number of 1 or more")
    return int(value)


def _choice(query: Query, name: str, choices: tuple[str, ...]) -> str | None:
    value = query.get(name) or None
    if value is not None and value not in choices:
        raise ApiError(400, f"query parameter {name}={value!r}: use one of {', '.join(choices)}")
    return value


def _pager(query: Query, part: str, rows: list[Any], key: Callable[[Any], int]) -> str:
    """Newest first: "older" continues below the last row; "newest" goes back to the top."""
    links = []
    before = f"{part}_before"
    if query.get(before):
        links.append(link("« newest", {**query, before: None}, part=part))
    if len(rows) == PAGE:
        links.append(link("older »", {**query, before: key(rows[-1])}, part=part))
    return f'<nav class="pages">{"".join(links)}</nav>' if links else ""


# -- summary ----------------------------------------------------------------------------------


def summary(ctx: ApiContext, query: Query) -> str:
    tasks = count_by_status(ctx.db)
    active = jobs.runs_with_status(ctx.db, jobs.ACTIVE_STATUSES)
    nodes = ctx.pool.statuses()
    tones = {"pending": "run", "running": "run", "completed": "ok", "failed": "bad"}
    cards = [(status, n, tones.get(status, "") if n else "") for status, n in tasks.items()]
    cards.append(("results", count_results(ctx.db), "ok" if tasks else ""))
    cards.append(("active jobs", len(active), "run" if active else ""))
    up = sum(1 for s in nodes if s.up)
    cards.append(("nodes up", f"{up}/{len(nodes)}", "ok" if up == len(nodes) else "bad"))
    dead = _dead_total(ctx)
    if dead is not None:
        cards.append(("dead letters", dead, "bad" if dead else ""))
    inner = "".join(
        f'<div class="card tone-{kind or "none"}" data-card="{escape(label)}">'
        f"<b>{escape(f'{n:,}' if isinstance(n, int) else n)}</b><span>{escape(label)}</span></div>"
        for label, n, kind in cards
    )
    leader = ""
    if ctx.is_leader is not None:
        leader = "this daemon leads" if ctx.is_leader() else "standing by: another daemon leads"
    return f'<div class="cards">{inner}</div><p class="sub" data-leader>{escape(leader)}</p>'


def _dead_total(ctx: ApiContext) -> int | None:
    if not str(ctx.settings.get("REDIS_URL") or "").strip():
        return None
    try:
        return sum(q["dead"] for q in queue_sizes(ctx, project_spiders(ctx)))
    except (StorageUnavailable, ConfigError):
        return None


# -- queues and nodes -------------------------------------------------------------------------

_QUEUE_HEADERS = (
    ("spider", ""),
    ("start URLs", "num"),
    ("queued", "num"),
    ("delayed", "num"),
    ("held", "num"),
    ("workers", "num"),
    ("dead letters", "num"),
    ("", "actions"),
)


_COUNTED = ("start_urls", "requests", "delayed", "held", "workers", "dead")


def queues(ctx: ApiContext, query: Query) -> str:
    """The spiders whose queue holds anything (a dozen empty rows would hide the one that matters)."""
    if not str(ctx.settings.get("REDIS_URL") or "").strip():
        return '<p class="none">REDIS_URL is not set: crawls use their own in-process queue.</p>'
    try:
        found = queue_sizes(ctx, project_spiders(ctx))
    except (StorageUnavailable, ConfigError) as exc:
        return f'<p class="err">{escape(exc)}</p>'
    busy = [q for q in found if any(q[name] for name in _COUNTED)]
    if not busy:
        return f'<p class="none">Every queue is empty ({len(found)} spiders).</p>'
    rows = []
    for q in busy:
        actions = ""
        if q["dead"]:
            actions = button("Requeue", "dead-requeue", spider=q["spider"]) + button(
                "Purge", "dead-purge", kind="danger", spider=q["spider"]
            )
        rows.append(
            [
                text(q["spider"]),
                num(q["start_urls"]),
                num(q["requests"]),
                num(q["delayed"]),
                num(q["held"]),
                num(q["workers"]),
                Cell(escape(f"{q['dead']:,}"), "num dead" if q["dead"] else "num zero"),
                Cell(actions, "actions"),
            ]
        )
    return table(_QUEUE_HEADERS, rows, empty="No spiders.", cls="queues")


_NODE_HEADERS = (
    ("node", ""),
    ("state", ""),
    ("running", "num"),
    ("pending", "num"),
    ("capacity", "num"),
    ("error", "wide"),
)


def nodes(ctx: ApiContext, query: Query) -> str:
    rows = [
        [text(s.node.name, "url"), badge(s.state), num(s.running), num(s.pending), num(s.node.capacity), error(s.error)]
        for s in ctx.pool.statuses()
    ]
    return table(_NODE_HEADERS, rows, empty="No Scrapyd node is configured.")


# -- schedules --------------------------------------------------------------------------------

_SCHEDULE_HEADERS = (
    ("name", ""),
    ("spider", ""),
    ("when", "span"),
    ("state", ""),
    ("next run", "span"),
    ("last run", ""),
    ("", "actions"),
)


def schedules(ctx: ApiContext, query: Query) -> str:
    latest = jobs.latest_runs(ctx.db)
    rows = []
    for s in store.list_schedules(ctx.db):
        last = latest.get(s.id)
        edit = {
            "name": s.name,
            "spider": s.spider,
            "cron": s.cron,
            "timezone": s.timezone,
            "interval_seconds": s.interval_seconds,
            "args": s.args,
            "settings": s.settings,
            "enabled": s.enabled,
        }
        toggle = (
            button("Pause", "schedule-pause", name=s.name)
            if s.enabled
            else button("Resume", "schedule-resume", name=s.name)
        )
        actions = (
            button("Run now", "schedule-run", kind="primary", name=s.name)
            + toggle
            + button("Edit", "schedule-edit", name=s.name, schedule=json.dumps(edit))
            + button("Remove", "schedule-remove", kind="danger", name=s.name)
        )
        last_run = f"{badge(last.status)} {when(last.fire_time or last.created_at)}" if last else "-"
        rows.append(
            [
                text(s.name),
                text(s.spider),
                text(s.describe_timing()),
                badge("active" if s.enabled else "paused"),
                _next_run(s),
                last_run,
                Cell(actions, "actions"),
            ]
        )
    return table(_SCHEDULE_HEADERS, rows, empty="No schedules yet: add one below.")


def _next_run(schedule: store.Schedule) -> str:
    """In the schedule's own zone, and (by the page's script) in the viewer's."""
    fire = schedule.next_fire_time
    if fire is None:
        return "-"
    zone = ZoneInfo(schedule.timezone or "UTC")
    local = fire.astimezone(zone)
    iso = fire.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return (
        f'<span class="zone">{local:%a %m-%d %H:%M} {escape(schedule.timezone or "UTC")}</span>'
        f'<time class="viewer" datetime="{iso}" title="{iso}"></time>'
    )


# -- jobs -------------------------------------------------------------------------------------

_JOB_HEADERS = (
    ("id", "num"),
    ("schedule", ""),
    ("spider", ""),
    ("status", ""),
    ("started", ""),
    ("duration", "num"),
    ("node", ""),
    ("pages", "num"),
    ("items", "num"),
    ("failed", "num"),
    ("error", "wide"),
    ("", "actions"),
)


def run_outcome(run: JobRun, task_errors: Mapping[str, str]) -> tuple[str, str | None]:
    """(the status badge, the error to show): a run that finished with every task failed says why."""
    failed_error = task_errors.get(run.scrapyd_job_id or "")
    if run.status == "finished" and run.task_count and run.tasks_failed:
        label = "failed" if run.tasks_failed == run.task_count else "finished"
        shown = f"finished: {run.tasks_failed} of {run.task_count} tasks failed"
        return badge(label, shown), run.error or failed_error
    return badge(run.status), run.error or (failed_error if run.tasks_failed else None)


def run_duration(run: JobRun) -> float | None:
    start = run.started_at or run.dispatched_at
    if start is None:
        return None
    end = run.finished_at or (utcnow() if run.status in jobs.ACTIVE_STATUSES else None)
    return (end - start).total_seconds() if end else None


def jobs_panel(ctx: ApiContext, query: Query) -> str:
    status = _choice(query, "jobs_status", jobs.STATUSES)
    spider = query.get("jobs_spider") or None
    runs = jobs.list_runs(ctx.db, status=status, spider=spider, before_id=_int(query, "jobs_before"), limit=PAGE)
    names = {s.id: s.name for s in store.list_schedules(ctx.db)}
    errors = jobs.failed_task_errors(ctx.db, [r.scrapyd_job_id for r in runs if r.tasks_failed and r.scrapyd_job_id])
    rows = []
    for r in runs:
        status_html, shown_error = run_outcome(r, errors)
        actions = button("Log", "job-log", id=r.id) if r.scrapyd_job_id else ""
        if r.status in ("requested", "pending", "running"):
            actions += button("Cancel", "job-cancel", kind="danger", id=r.id)
        rows.append(
            [
                Cell(f'<a href="?job={r.id}" data-job="{r.id}">{r.id}</a>', "num"),
                text(names.get(r.schedule_id, "-") if r.schedule_id is not None else "-"),
                text(r.spider),
                status_html,
                when(r.started_at or r.dispatched_at or r.created_at),
                num(duration(run_duration(r))),
                text(r.node or "-", "url"),
                num(r.pages),
                num(r.item_count),
                num(r.tasks_failed),
                error(shown_error),
                Cell(actions, "actions"),
            ]
        )
    pager = _pager(query, "jobs", runs, lambda r: r.id)
    return table(_JOB_HEADERS, rows, empty="No job runs match.", cls="jobs") + pager


def _log_grows(run: JobRun) -> bool:
    """Whether the crawl may still write to its log: running, or cancelled and not closed yet."""
    return run.status in jobs.ACTIVE_STATUSES or (run.status == "cancelled" and run.finish_reason is None)


def job_detail(ctx: ApiContext, query: Query) -> str:
    run_id = _int(query, "job")
    if run_id is None:
        return ""
    run = jobs.get_run(ctx.db, run_id)
    errors = jobs.failed_task_errors(ctx.db, [run.scrapyd_job_id] if run.scrapyd_job_id else [])
    status_html, shown_error = run_outcome(run, errors)
    facts = [
        ("status", status_html),
        ("spider", escape(run.spider)),
        ("Scrapyd job", escape(run.scrapyd_job_id or "-")),
        ("node", escape(run.node or "-")),
        ("pages", escape(f"{run.pages:,}")),
        ("items", escape(f"{run.item_count:,}")),
        ("tasks", escape(f"{run.task_count:,}")),
        ("errors", escape(f"{run.tasks_failed:,} failed tasks")),
        ("finish reason", escape(run.finish_reason or "-")),
        ("started", when(run.started_at or run.dispatched_at)),
        ("finished", when(run.finished_at)),
        ("duration", escape(duration(run_duration(run)))),
    ]
    items = "".join(f"<div><dt>{escape(k)}</dt><dd>{v}</dd></div>" for k, v in facts)
    err = f'<p class="err" data-job-error>{escape(shown_error)}</p>' if shown_error else ""
    actions = button("Close", "job-close")
    if run.status in ("requested", "pending", "running"):
        actions = button("Cancel job", "job-cancel", kind="danger", id=run.id) + actions
    log = ""
    if run.scrapyd_job_id:
        log = (
            "<h3>Log <small>(the last lines, from the node)</small></h3>"
            f'<pre class="log" data-log-for="{run.id}" data-active="{int(_log_grows(run))}">'
            "loading…</pre>"
        )
    return (
        f'<div class="detail" data-job-detail="{run.id}"><header><h3>Job run {run.id}</h3>{actions}</header>'
        f'<dl class="facts">{items}</dl>{err}<div class="logstats" data-log-stats></div>{log}</div>'
    )


# -- tasks and results ------------------------------------------------------------------------

_TASK_HEADERS = (
    ("id", "num"),
    ("spider", ""),
    ("status", ""),
    ("url", "url"),
    ("attempts", "num"),
    ("items", "num"),
    ("updated", ""),
    ("error", "wide"),
)


def tasks_panel(ctx: ApiContext, query: Query) -> str:
    status = _choice(query, "tasks_status", TASK_STATUSES)
    rows = list_tasks(
        ctx.db,
        status=status,
        spider=query.get("tasks_spider") or None,
        limit=PAGE,
        before_id=_int(query, "tasks_before"),
    )
    cells = [
        [
            num(t["id"]),
            text(t["spider"]),
            badge(t["status"]),
            text(t["url"], "url"),
            num(t["attempts"]),
            num(t["item_count"]),
            when(t["updated_at"]),
            error(t["error"]),
        ]
        for t in rows
    ]
    return table(_TASK_HEADERS, cells, empty="No tasks match.", cls="tasks") + _pager(
        query, "tasks", rows, lambda t: t["id"]
    )


_RESULT_HEADERS = (("id", "num"), ("task", "num"), ("spider", ""), ("url", "url"), ("scraped", ""), ("data", "wide"))


def result_filters(query: Query) -> dict[str, Any]:
    since = query.get("results_since") or None
    try:
        since_time = parse_when(since) if since else None
    except BadInput as exc:
        raise ApiError(400, f"query parameter results_since: {exc}") from None
    return {"spider": query.get("results_spider") or None, "task_id": _int(query, "results_task"), "since": since_time}


def export_query(query: Query, fmt: str) -> str:
    from urllib.parse import urlencode

    params = {"format": fmt, "spider": query.get("results_spider"), "task": query.get("results_task")}
    params["since"] = query.get("results_since")
    return "/api/results?" + urlencode({k: v for k, v in params.items() if v})


def results_panel(ctx: ApiContext, query: Query) -> str:
    filters = result_filters(query)
    rows = latest_results(ctx.db, **filters, before_id=_int(query, "results_before"), limit=PAGE)
    cells = [
        [
            num(r["id"]),
            num(r["task_id"]),
            text(r["spider"]),
            text(r["url"], "url"),
            when(r["scraped_at"]),
            Cell(f'<code class="data">{escape(_preview(r["data"]))}</code>', "wide"),
        ]
        for r in rows
    ]
    exports = (
        f'<p class="exports">Export what matches: <a href="{escape(export_query(query, "csv"))}" data-export="csv"'
        f' download>CSV</a> · <a href="{escape(export_query(query, "jsonl"))}" data-export="jsonl"'
        " download>JSON Lines</a></p>"
    )
    return (
        exports
        + table(_RESULT_HEADERS, cells, empty="No results match.", cls="results")
        + _pager(query, "results", rows, lambda r: r["id"])
    )


def _preview(data: Any, limit: int = 160) -> str:
    shown = json.dumps(data, ensure_ascii=False, separators=(", ", ": "))
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


# -- charts -----------------------------------------------------------------------------------


def charts(ctx: ApiContext, query: Query) -> str:
    return f'<div class="charts">{chart_panel.charts(ctx.db, query.get("range") or chart_panel.DEFAULT_RANGE)}</div>'


PANELS: dict[str, Callable[[ApiContext, Query], str]] = {
    "summary": summary,
    "charts": charts,
    "queues": queues,
    "nodes": nodes,
    "schedules": schedules,
    "jobs": jobs_panel,
    "job": job_detail,
    "tasks": tasks_panel,
    "results": results_panel,
}
