"""Small HTML builders for the console (``scheduler.api.dashboard`` and its panels).

Every value goes through :func:`escape` where a cell is built: URLs, errors,
spider arguments and dead letters come from users. Tables carry each column's
header in ``data-label`` too, so that on a phone the stylesheet can show every
row as a small card (label, value) instead of a table wider than the screen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape as _escape
from typing import Any
from urllib.parse import urlencode


def escape(value: Any) -> str:
    return _escape("" if value is None else str(value), quote=True)


class Cell(str):
    """A cell's HTML (escaped already) and its class: ``num`` cells align right, as their header does."""

    kind: str = ""

    def __new__(cls, html: str, kind: str = "") -> Cell:
        cell = super().__new__(cls, html)
        cell.kind = kind
        return cell


def num(value: Any) -> Cell:
    if isinstance(value, float):
        text = f"{value:,.1f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = "" if value is None else str(value)
    return Cell(escape(text), "num zero" if value == 0 and not isinstance(value, bool) else "num")


def text(value: Any, kind: str = "") -> Cell:
    return Cell(escape(value if value is not None else ""), kind)


def badge(status: str, label: str | None = None) -> str:
    kind = status.split()[0]  # "no project" is styled as s-no
    return f'<span class="s s-{escape(kind)}">{escape(label or status)}</span>'


def error(message: str | None) -> Cell:
    return Cell(f'<span class="err">{escape(message)}</span>' if message else "", "wide")


def when(value: datetime | None) -> str:
    """A time, UTC on the server; the page's script shows it in the viewer's zone (its title keeps UTC)."""
    if value is None:
        return "-"
    utc = value.astimezone(UTC)
    iso = utc.isoformat(timespec="seconds").replace("+00:00", "Z")
    return f'<time datetime="{iso}" title="{iso}">{utc:%m-%d %H:%M:%S} UTC</time>'


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def button(label: str, action: str, *, kind: str = "", **data: Any) -> str:
    attrs = "".join(f' data-{escape(k.replace("_", "-"))}="{escape(v)}"' for k, v in data.items())
    cls = f"btn {kind}".strip()
    return f'<button type="button" class="{cls}" data-action="{escape(action)}"{attrs}>{escape(label)}</button>'


def link(label: str, query: Mapping[str, Any], *, part: str) -> str:
    """A link to the page with this query (it works without the script; the script loads the part only)."""
    params = {k: v for k, v in query.items() if v not in (None, "")}
    return f'<a class="pager" href="?{escape(urlencode(params))}" data-part-link="{escape(part)}">{escape(label)}</a>'


def table(headers: Sequence[tuple[str, str]], rows: Iterable[Sequence[str]], *, empty: str, cls: str = "") -> str:
    """``headers`` are (label, kind); a row's cells are :class:`Cell` (their kind wins) or plain HTML."""
    body = []
    for row in rows:
        cells = []
        for (label, kind), cell in zip(headers, row, strict=True):
            cell_kind = getattr(cell, "kind", "") or kind
            klass = f' class="{cell_kind}"' if cell_kind else ""
            cells.append(f'<td data-label="{escape(label)}"{klass}>{cell}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        return f'<p class="none">{escape(empty)}</p>'
    head = "".join(f'<th class="{kind}">{escape(label)}</th>' for label, kind in headers).replace(' class=""', "")
    extra = f" {cls}" if cls else ""
    return f'<table class="grid{extra}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def options(choices: Iterable[str], selected: str | None, *, blank: str | None = None) -> str:
    out = [f'<option value="">{escape(blank)}</option>'] if blank is not None else []
    for choice in choices:
        mark = " selected" if choice == selected else ""
        out.append(f'<option value="{escape(choice)}"{mark}>{escape(choice)}</option>')
    return "".join(out)
