"""Decide, per request, whether a page is rendered in the browser.

The mode comes from ``meta["render"]`` or else the spider's ``render`` attribute
(``never``, ``auto``, ``always``; see :mod:`scraperq.rendering`).

* ``always``: the request gets ``meta["playwright"] = True`` on its way to the
  download handler (set here, at download time, so queued requests stay plain
  JSON and a source's choice holds for every page it leads to).
* ``auto``: the plain response is checked with :func:`~scraperq.rendering.needs_rendering`;
  an app shell is sent back to be fetched again in the browser. The plain
  response never reaches the spider, so a task completes on the rendered page.

The spider's ``render_wait_for`` (a CSS selector) is passed on in
``meta["render_wait_for"]`` for rendered requests that have none.

Settings: ``SCRAPERQ_RENDER_MIN_TEXT`` (200).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scraperq.rendering import RENDER, RENDER_WAIT_FOR, is_html, needs_rendering, parse_render_mode

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response


class RenderMiddleware:
    def __init__(self, crawler: Crawler, *, min_text: int = 200) -> None:
        self.crawler = crawler
        self.min_text = min_text

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RenderMiddleware:
        return cls(crawler, min_text=crawler.settings.getint("SCRAPERQ_RENDER_MIN_TEXT", 200))

    def mode(self, request: Request) -> str:
        if RENDER in request.meta:
            return parse_render_mode(request.meta[RENDER], name="meta render")
        return parse_render_mode(getattr(self.crawler.spider, "render", "never"))

    def process_request(self, request: Request) -> None:
        if _is_robots_txt(request):
            return  # a site's rules are a plain file, whatever its pages need
        if request.meta.get("playwright"):
            self._pass_wait_for(request)
        elif self.mode(request) == "always":
            request.meta["playwright"] = True
            self._pass_wait_for(request)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("playwright") or _is_robots_txt(request) or self.mode(request) != "auto":
            return response
        if not is_html(response):
            return response
        if not needs_rendering(response, min_text=self.min_text):
            self.crawler.stats.inc_value("scraperq/render/auto_plain")
            return response
        self.crawler.stats.inc_value("scraperq/render/auto_rendered")
        # Same URL again: dont_filter, or the dupefilter would drop it as already seen.
        return request.replace(meta={**request.meta, "playwright": True}, dont_filter=True)

    def _pass_wait_for(self, request: Request) -> None:
        wait_for = getattr(self.crawler.spider, "render_wait_for", None)
        if wait_for and RENDER_WAIT_FOR not in request.meta:
            request.meta[RENDER_WAIT_FOR] = wait_for


def _is_robots_txt(request: Request) -> bool:
    # RobotsTxtMiddleware's own requests carry dont_obey_robotstxt.
    return bool(request.meta.get("dont_obey_robotstxt")) and request.url.endswith("/robots.txt")
