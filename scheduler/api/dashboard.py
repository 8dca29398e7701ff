"""``GET /``: the console, a page an operator runs the system from.

Rendered on the server (``scheduler.api.panels``), with a small script of our
own (``static/console.js``, served by ``scheduler.api.static``) that:

* sends every action through the JSON API, as any client would: submit URLs,
  add, edit, pause, resume, run and remove schedules, cancel a job, requeue or
  purge dead letters; errors are shown as the API words them;
* asks for each panel again every few seconds (``/?part=NAME`` answers that
  panel's HTML alone) and when a filter or a page changes, so the page is live
  without reloading and without a second renderer in the browser;
* shows times in the viewer's zone (the server writes them in UTC, in
  ``<time datetime>``), and next runs in the schedule's zone too;
* reads a job's log from ``/api/jobs/{id}/log``.

Nothing is loaded from elsewhere and nothing runs inline: the
``Content-Security-Policy`` allows scripts, styles and fetches from this origin
only, so the page works on a machine with no internet access. Every value is
HTML-escaped where it is built: URLs, errors and arguments come from users.

With ``SCRAPERQ_API_TOKEN`` set, a browser gets a login prompt: basic
authentication with any user name and the token as password opens the page.
The page then carries that same token (in a ``<meta>`` the script reads and
removes), so its API calls send ``Authorization: Bearer``: a browser would not
send basic credentials to routes that challenge for a bearer token.
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from scheduler.api import panels
from scheduler.api.charts import DEFAULT_RANGE, RANGES
from scheduler.api.context import ApiContext
from scheduler.api.html import escape, options
from scheduler.api.http import ApiError
from scraperq.payloads import MAX_PRIORITY
from scraperq.storage import jobs
from scraperq.storage.tasks import STATUSES as TASK_STATUSES

# How often the script asks for the panels again (SCRAPERQ_CONSOLE_REFRESH; the page tells the script).
REFRESH_SECONDS = 4.0
MIN_REFRESH_SECONDS = 0.5

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def dashboard(ctx: ApiContext, request: Request) -> Response:
    query = {k: v for k, v in request.args.items()}
    part = query.pop("part", None)
    if part is not None:
        render = panels.PANELS.get(part)
        if render is None:
            raise ApiError(400, f"query parameter part={part!r}: use one of {', '.join(panels.PANELS)}")
        return Response(render(ctx, query), mimetype="text/html", headers=HEADERS)
    return Response(page(ctx, query, token=_supplied_token(ctx, request)), mimetype="text/html", headers=HEADERS)


def refresh_seconds(settings: object) -> float:
    """``SCRAPERQ_CONSOLE_REFRESH``: seconds between the page's looks at its panels (at least 0.5)."""
    raw = settings.get("SCRAPERQ_CONSOLE_REFRESH") if hasattr(settings, "get") else None
    try:
        value = float(raw) if raw not in (None, "") else REFRESH_SECONDS
    except (TypeError, ValueError):
        value = REFRESH_SECONDS
    return max(MIN_REFRESH_SECONDS, value)


def _supplied_token(ctx: ApiContext, request: Request) -> str | None:
    """The token this request came with, for the page's own API calls; None when no token is set.

    The request passed the token check to get here, so it sent exactly the configured token: the
    page only hands back to the browser what the browser gave."""
    return ctx.config.token


def _part(name: str, ctx: ApiContext, query: dict[str, str], cls: str = "") -> str:
    klass = f"part {cls}".strip()
    return f'<div class="{klass}" id="part-{name}" data-part="{name}">{panels.PANELS[name](ctx, query)}</div>'


def _section(anchor: str, title: str, body: str, *, tools: str = "") -> str:
    return f'<section id="{anchor}"><header class="bar"><h2>{escape(title)}</h2>{tools}</header>{body}</section>'


def _filters(part: str, fields: list[tuple[str, str, str]]) -> str:
    """A filter form of a panel: (name, label, control HTML) each; the script applies it on change."""
    inner = "".join(f"<label><span>{escape(label)}</span>{control}</label>" for _, label, control in fields)
    return f'<form class="filters" data-filters="{part}" method="get" action="/">{inner}</form>'


def _select(name: str, choices: list[str], query: dict[str, str], blank: str) -> str:
    return f'<select name="{name}">{options(choices, query.get(name), blank=blank)}</select>'


def page(ctx: ApiContext, query: dict[str, str], *, token: str | None) -> str:
    spiders = sorted(ctx.service.spiders())
    spider_options = options(spiders, "generic" if "generic" in spiders else None)
    token_meta = f'<meta name="scraperq-token" content="{escape(token)}">' if token else ""
    range_name = query.get("range") or DEFAULT_RANGE
    range_select = (
        f'<form class="filters" data-filters="charts"><label><span>range</span><select name="range">'
        f"{options(list(RANGES), range_name)}</select></label></form>"
    )
    submit = f"""
<form class="panel form" data-form="submit" autocomplete="off">
  <label class="grow"><span>URLs, one a line</span>
    <textarea name="urls" rows="3" required placeholder="https://example.com/"></textarea></label>
  <div class="row">
    <label><span>spider</span><select name="spider">{spider_options}</select></label>
    <label><span>priority</span><input name="priority" type="number" value="0" min="-{MAX_PRIORITY}"
      max="{MAX_PRIORITY}" step="1" inputmode="numeric"></label>
    <button type="submit" class="btn primary">Queue URLs</button>
  </div>
</form>"""
    schedule_form = f"""
<details class="panel" data-schedule-details><summary>New schedule</summary>
<form class="form" data-form="schedule" autocomplete="off">
  <div class="row">
    <label><span>name</span><input name="name" required pattern="[A-Za-z0-9][A-Za-z0-9._\\-]{{0,99}}"
      placeholder="books-daily"></label>
    <label><span>spider</span><select name="spider">{spider_options}</select></label>
  </div>
  <div class="row">
    <label><span>cron</span><input name="cron" placeholder="30 6 * * 1-5"></label>
    <label><span>time zone</span><input name="timezone" list="zones" placeholder="UTC"></label>
    <label><span>or every (seconds)</span><input name="interval_seconds" type="number" min="1"
      inputmode="numeric"></label>
  </div>
  <div class="row">
    <label class="grow"><span>spider arguments, name=value a line</span>
      <textarea name="args" rows="2" placeholder="url=https://example.com/"></textarea></label>
    <label class="grow"><span>settings, NAME=value a line</span>
      <textarea name="settings" rows="2" placeholder="DOWNLOAD_DELAY=1"></textarea></label>
  </div>
  <div class="row">
    <label class="check"><input name="paused" type="checkbox"> <span>add it paused</span></label>
    <button type="submit" class="btn primary" data-submit-label>Add schedule</button>
    <button type="button" class="btn" data-action="schedule-edit-cancel" hidden>Stop editing</button>
  </div>
</form><datalist id="zones"></datalist></details>"""
    job_filters = _filters(
        "jobs",
        [
            ("jobs_status", "status", _select("jobs_status", list(jobs.STATUSES), query, "any")),
            ("jobs_spider", "spider", _select("jobs_spider", spiders, query, "any")),
        ],
    )
    task_filters = _filters(
        "tasks",
        [
            ("tasks_status", "status", _select("tasks_status", list(TASK_STATUSES), query, "any")),
            ("tasks_spider", "spider", _select("tasks_spider", spiders, query, "any")),
        ],
    )
    result_filters = _filters(
        "results",
        [
            ("results_spider", "spider", _select("results_spider", spiders, query, "any")),
            (
                "results_task",
                "task",
                f'<input name="results_task" inputmode="numeric" size="6" value="{escape(query.get("results_task"))}">',
            ),
            (
                "results_since",
                "since",
                f'<input name="results_since" size="8" placeholder="24h" value="{escape(query.get("results_since"))}">',
            ),
        ],
    )
    body = "".join(
        [
            _section("overview", "Overview", _part("summary", ctx, query)),
            _section("activity", "Activity", _part("charts", ctx, query), tools=range_select),
            _section("submit", "Submit URLs", submit),
            _section("queues", "Queues", _part("queues", ctx, query)),
            _section("schedules", "Schedules", _part("schedules", ctx, query) + schedule_form),
            _section(
                "jobs", "Jobs", _part("job", ctx, query, "job-detail") + _part("jobs", ctx, query), tools=job_filters
            ),
            _section("tasks", "Tasks", _part("tasks", ctx, query), tools=task_filters),
            _section("results", "Results", _part("results", ctx, query), tools=result_filters),
            _section("nodes", "Scrapyd nodes", _part("nodes", ctx, query)),
        ]
    )
    nav = "".join(
        f'<a href="#{a}">{escape(t)}</a>'
        for a, t in (
            ("activity", "Activity"),
            ("submit", "Submit"),
            ("queues", "Queues"),
            ("schedules", "Schedules"),
            ("jobs", "Jobs"),
            ("tasks", "Tasks"),
            ("results", "Results"),
            ("nodes", "Nodes"),
        )
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="scraperq-refresh" content="{refresh_seconds(ctx.settings):g}">{token_meta}'
        '<link rel="icon" href="data:,"><title>scraperq console</title>'
        '<link rel="stylesheet" href="/static/console.css">'
        '<script src="/static/console.js" defer></script></head><body>'
        '<header class="top"><a class="brand" href="/">scraperq</a>'
        f'<nav>{nav}</nav><span class="live" data-live>live</span></header>'
        '<div class="flash" data-flash role="status" aria-live="polite" hidden></div>'
        f"<main>{body}</main>"
        '<footer><a href="/openapi.json">API (OpenAPI)</a> · <a href="/metrics">metrics</a></footer>'
        "</body></html>"
    )
