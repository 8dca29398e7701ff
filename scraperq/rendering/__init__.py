"""JavaScript rendering through scrapy-playwright, for the pages that need it and no others.

A page is rendered in Chromium when

* its request says so: ``meta["playwright"] = True`` (scrapy-playwright's own
  switch) or ``meta["render"] = "always"``;
* its spider says so: ``render = "always"`` (every page) or ``render = "auto"``,
  where the plain response is fetched first and the page is fetched again in the
  browser only when :func:`needs_rendering` finds it has scripts but almost no
  text. ``meta["render"]`` overrides the spider's choice for one request.

The parts: :mod:`~scraperq.rendering.middleware` decides per request,
:mod:`~scraperq.rendering.handler` runs the browser (started on the first
rendered request, so plain crawls never start one), and
:mod:`~scraperq.rendering.guard` applies the SSRF rules to every connection the
browser makes.

Settings: ``SCRAPERQ_RENDER_MIN_TEXT`` (characters of visible text below which
``auto`` renders; default 200).
"""

from __future__ import annotations

from scrapy.http import Response, TextResponse

# The modes and their parser live with the spider argument types, which the scheduler reads without Scrapy.
from scraperq.arguments import RENDER_MODES, parse_render_mode  # noqa: F401 - re-exported

# Request meta: per-request override of the spider's mode, and a CSS selector to wait for.
RENDER = "render"
RENDER_WAIT_FOR = "render_wait_for"

_VISIBLE_TEXT = "//body//text()[not(ancestor::script or ancestor::style or ancestor::noscript or ancestor::template)]"


def visible_text_length(response: TextResponse) -> int:
    return sum(len(t.strip()) for t in response.xpath(_VISIBLE_TEXT).getall())


def has_scripts(response: TextResponse) -> bool:
    """True when the page has a script a browser would run (JSON-LD and templates are not)."""
    for script in response.xpath("//script"):
        kind = (script.attrib.get("type") or "").strip().lower()
        if kind in ("", "module") or "javascript" in kind or "ecmascript" in kind:
            return True
    return False


def is_html(response: Response) -> bool:
    if not isinstance(response, TextResponse):
        return False
    ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1").lower()
    return "html" in ctype or (not ctype and b"<html" in response.body[:2048].lower())


def needs_rendering(response: Response, *, min_text: int = 200) -> bool:
    """True for a plain HTML response with scripts and fewer than ``min_text`` characters of text.

    That is the shape of a page whose content a script builds (an app shell);
    a page that already shows its text, or has no scripts to run, gains
    nothing from a browser.
    """
    if response.status != 200 or "playwright" in response.flags or not is_html(response):
        return False
    assert isinstance(response, TextResponse)
    return has_scripts(response) and visible_text_length(response) < min_text


__all__ = ["RENDER", "RENDER_MODES", "RENDER_WAIT_FOR", "needs_rendering", "parse_render_mode"]
