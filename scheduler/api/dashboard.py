"""``GET /``: a one-page dashboard, rendered on the server.

Plain HTML with inline CSS: no build step, no script, nothing loaded from
elsewhere (``Content-Security-Policy`` says so to the browser), so it works on
a machine with no internet access. It refreshes itself every 15 seconds.
Every value is HTML-escaped: URLs, errors and spider arguments come from users.

With ``SCRAPERQ_API_TOKEN`` set, a browser gets a login prompt: HTTP basic
authentication with any user name and the token as the password is accepted
alongside ``Authorization: Bearer``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from werkzeug.wrappers import Request, Response

from scheduler.api.context import ApiContext
from scraperq.storage import jobs
from scraperq.storage import schedules as store
from scraperq.storage.results import count_results
from scraperq.storage.tasks import count_by_status, list_tasks

REFRESH_SECONDS = 15
RECENT = 20

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d232b;background:#f6f7f9}
h1{font-size:1.4rem;margin:0 0 .2rem} h2{font-size:1.05rem;margin:1.6rem 0 .5rem}
.sub{color:#5b6470;margin:0 0 1rem} .sub a{color:inherit}
.cards{display:flex;flex-wrap:wrap;gap:.6rem}
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:.5rem .9rem;min-width:7rem}
.card b{display:block;font-size:1.3rem}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dde1e6}
th,td{text-align:left;padding:.3rem .55rem;border-bottom:1px solid #eceff2;vertical-align:top}
th{background:#eef1f4;font-weight:600} td.num{text-align:right}
.url{max-width:34rem;overflow-wrap:anywhere} .err{color:#a4262c;max-width:28rem;overflow-wrap:anywhere}
.s{padding:.05rem .4rem;border-radius:3px;background:#e6e9ed}
.s-completed,.s-finished,.s-active,.s-up{background:#d7f0dc} .s-failed,.s-down,.s-missed{background:#f8d7d9}
.s-no{background:#f8d7d9} .s-cancelled,.s-requested{background:#f3ecd2}
.s-running,.s-pending,.s-dispatching{background:#dbe8fb} .s-paused,.s-skipped{background:#f3ecd2}
.none{color:#5b6470;font-style:italic}
"""


def dashboard(ctx: ApiContext, request: Request) -> Response:
    tasks = count_by_status(ctx.db)
    sections = [
        _cards(tasks, count_results(ctx.db)),
        _nodes(ctx),
        _schedules(ctx),
        _jobs(ctx),
        _tasks(ctx),
    ]
    leader = ""
    if ctx.is_leader is not None:
        leader = " · this daemon leads" if ctx.is_leader() else " · standing by (another daemon leads)"
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>scraperq</title><style>{_CSS}</style></head><body>"
        "<h1>scraperq</h1>"
        f'<p class=sub>{escape(now)}{escape(leader)} · <a href="/openapi.json">API</a> · '
        '<a href="/metrics">metrics</a></p>' + "".join(sections) + "</body></html>"
    )
    return Response(
        page,
        mimetype="text/html",
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'none';"
            " frame-ancestors 'none'",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _cards(tasks: dict[str, int], results: int) -> str:
    cards = [(status, n) for status, n in tasks.items()] + [("results", results)]
    inner = "".join(f"<div class=card><b>{n}</b>{escape(label)} {_noun(label)}</div>" for label, n in cards)
    return f"<div class=cards>{inner}</div>"


def _noun(label: str) -> str:
    return "" if label == "results" else "tasks"


def _nodes(ctx: ApiContext) -> str:
    rows = [
        [
            escape(s.node.name),
            _badge(s.state),
            _num(s.running),
            _num(s.pending),
            _num(s.node.capacity),
            _err(s.error),
        ]
        for s in ctx.pool.statuses()
    ]
    return _section("Scrapyd nodes", ("node", "state", "running", "pending", "capacity", "error"), rows)


def _schedules(ctx: ApiContext) -> str:
    latest = jobs.latest_runs(ctx.db)
    rows = []
    for s in store.list_schedules(ctx.db):
        last = latest.get(s.id)
        rows.append(
            [
                escape(s.name),
                escape(s.spider),
                escape(s.describe_timing()),
                _badge("active" if s.enabled else "paused"),
                _time(s.next_fire_time),
                (_badge(last.status) + " " + _time(last.fire_time)) if last else "-",
            ]
        )
    return _section("Schedules", ("name", "spider", "when", "state", "next run", "last run"), rows)


def _jobs(ctx: ApiContext) -> str:
    names = {s.id: s.name for s in store.list_schedules(ctx.db)}
    rows = [
        [
            _num(r.id),
            escape(names.get(r.schedule_id, "-") if r.schedule_id is not None else "-"),
            escape(r.spider),
            _badge(r.status),
            escape(r.origin),
            _time(r.fire_time),
            escape(r.node or "-"),
            _num(r.item_count),
            _err(r.error),
        ]
        for r in jobs.recent_runs(ctx.db, limit=RECENT)
    ]
    headers = ("id", "schedule", "spider", "status", "origin", "fire time", "node", "items", "error")
    return _section(f"Recent jobs (last {RECENT})", headers, rows)


def _tasks(ctx: ApiContext) -> str:
    rows = [
        [
            _num(t["id"]),
            escape(t["spider"]),
            _badge(t["status"]),
            f"<span class=url>{escape(t['url'])}</span>",
            _num(t["attempts"]),
            _num(t["item_count"]),
            _err(t["error"]),
        ]
        for t in list_tasks(ctx.db, limit=RECENT)
    ]
    return _section(
        f"Recent tasks (last {RECENT})", ("id", "spider", "status", "url", "attempts", "items", "error"), rows
    )


def _section(title: str, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    if not body:
        return f"<h2>{escape(title)}</h2><p class=none>None yet.</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<h2>{escape(title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Number(str):
    """An escaped cell that aligns right."""


def _cell(html: str) -> str:
    # Every cell is escaped where it is built.
    return f"<td class=num>{html}</td>" if isinstance(html, _Number) else f"<td>{html}</td>"


def _num(value: Any) -> str:
    return _Number(escape(str(value)))


def _badge(status: str) -> str:
    kind = status.split()[0]  # "no project" is styled as s-no
    return f'<span class="s s-{escape(kind)}">{escape(status)}</span>'


def _err(error: str | None) -> str:
    return f"<span class=err>{escape(error)}</span>" if error else ""


def _time(value: datetime | None) -> str:
    if value is None:
        return "-"
    return escape(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"))
