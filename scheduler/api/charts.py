"""The console's charts: activity over time (``scraperq.storage.activity``) drawn as inline SVG.

Drawn on the server, so a chart needs no script and no library: bars of equal
width, one per bucket, scaled to the largest, with the largest and the latest
value written beside the title. Colours come from classes in the stylesheet
(``style-src 'self'``); nothing is inline but SVG geometry.
"""

from __future__ import annotations

from datetime import timedelta

from scheduler.api.html import escape, when
from scraperq.storage.activity import Activity, activity
from scraperq.storage.connection import Database

# The ranges offered: label -> (window, buckets).
RANGES: dict[str, tuple[timedelta, int]] = {
    "1h": (timedelta(hours=1), 60),
    "6h": (timedelta(hours=6), 72),
    "24h": (timedelta(hours=24), 96),
    "7d": (timedelta(days=7), 84),
}
DEFAULT_RANGE = "6h"

# name -> (title, unit, kind): "rate" values are shown per minute, "mean" as they are.
_CHARTS = (
    ("pages", "Pages stored", "/min", "rate"),
    ("items", "Items stored", "/min", "rate"),
    ("failures", "Failures (tasks and job runs)", "/min", "rate"),
    ("dispatch_latency", "Dispatch latency", "s", "mean"),
)
_W, _H = 300, 64


def charts(db: Database, range_name: str) -> str:
    window, buckets = RANGES.get(range_name, RANGES[DEFAULT_RANGE])
    found = activity(db, window=window, buckets=buckets)
    return "".join(_chart(found, name, title, unit, kind) for name, title, unit, kind in _CHARTS)


def _chart(found: Activity, name: str, title: str, unit: str, kind: str) -> str:
    per_minute = found.bucket_seconds / 60
    values = [v / per_minute if kind == "rate" else v for v in found.series[name]]
    top = max(values) if values else 0
    width = _W / max(1, len(values))
    bars = []
    for i, value in enumerate(values):
        if value <= 0:
            continue
        height = max(1.0, value / top * (_H - 2))
        bars.append(
            f'<rect x="{i * width:.2f}" y="{_H - height:.2f}" width="{max(0.5, width - 0.6):.2f}"'
            f' height="{height:.2f}"><title>{_fmt(value)} {escape(unit)}</title></rect>'
        )
    latest = values[-1] if values else 0
    label = f"{title}: latest {_fmt(latest)} {unit}, peak {_fmt(top)} {unit}"
    return (
        f'<figure class="chart c-{escape(name)}" data-series="{escape(name)}">'
        f"<figcaption><span>{escape(title)}</span><b>{_fmt(latest)}<small> {escape(unit)}</small></b></figcaption>"
        f'<svg viewBox="0 0 {_W} {_H}" preserveAspectRatio="none" role="img" aria-label="{escape(label)}">'
        f'<line class="base" x1="0" y1="{_H - 0.5}" x2="{_W}" y2="{_H - 0.5}"></line>{"".join(bars)}</svg>'
        f'<div class="axis"><span>{when(found.start)}</span><span>peak {_fmt(top)}</span><span>now</span></div>'
        "</figure>"
    )


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
