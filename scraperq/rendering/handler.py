"""The download handler for http and https: plain requests as usual, rendered ones in Chromium.

A :class:`scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler` with three changes:

* Playwright and the browser start on the first request that asks for rendering
  (``meta["playwright"]``), not when the engine starts, so a crawl of plain
  pages never starts a browser or Playwright's driver.
* Every browser connection goes through :class:`~scraperq.rendering.guard.BrowserGuard`,
  which applies ``SCRAPERQ_ALLOW_PRIVATE`` as SSRFGuardMiddleware does; a context
  a request asks for (``playwright_context_kwargs``) is given the same proxy, and
  persistent contexts, which would start a browser of their own, are refused. A
  remote browser (``PLAYWRIGHT_CDP_URL``, ``PLAYWRIGHT_CONNECT_URL``) is outside
  the gate: give it a network that can only reach the internet.
* Pages are closed after each response (scrapy-playwright does that) and the
  browser context is replaced after ``SCRAPERQ_RENDER_PAGES_PER_CONTEXT`` pages,
  closed once its last page is done, so cache and cookies do not pile up and
  memory stays flat on long runs.

Settings:

* ``SCRAPERQ_CHROMIUM_PATH``: the browser executable (default ``/usr/bin/chromium``,
  Debian's package; Playwright's own downloads are not used).
* ``SCRAPERQ_RENDER_PAGES_PER_CONTEXT`` (100): pages per browser context.
* ``SCRAPERQ_RENDER_SKIP_RESOURCES`` (``image, media, font``): resource types the
  browser does not load, unless ``PLAYWRIGHT_ABORT_REQUEST`` is set.
* ``SCRAPERQ_RENDER_WAIT_TIMEOUT`` (10): seconds to wait for ``meta["render_wait_for"]``.
* ``SCRAPERQ_ALLOW_PRIVATE``: as for every request.
* scrapy-playwright's ``PLAYWRIGHT_*`` settings (``PLAYWRIGHT_LAUNCH_OPTIONS`` is
  merged over the options built here; ``PLAYWRIGHT_MAX_PAGES_PER_CONTEXT`` bounds
  concurrent pages).
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections import Counter
from typing import TYPE_CHECKING, Any

from playwright.async_api import Error as PlaywrightError
from scrapy.crawler import Crawler
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from scraperq.errors import ConfigError
from scraperq.middlewares.ssrf import parse_allow_private
from scraperq.rendering import RENDER_WAIT_FOR
from scraperq.rendering.guard import BrowserGuard

if TYPE_CHECKING:
    from playwright.async_api import Page
    from playwright.async_api import Request as BrowserRequest
    from scrapy import Request, Spider
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

DEFAULT_CHROMIUM = "/usr/bin/chromium"
# Quiet, headless Chromium: no GPU, no updates, sync or other calls home that would
# cost memory and make connections nobody asked for.
CHROMIUM_ARGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    # WebRTC's UDP does not go through the proxy, so it must not be used at all.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)
_CONTEXT_PREFIX = "scraperq-"
_PRIMARY: weakref.WeakKeyDictionary[Crawler, RenderingDownloadHandler] = weakref.WeakKeyDictionary()


class RenderTimeout(Exception):
    """The element a source waits for did not appear in time."""


def chromium_launch_options(settings: BaseSettings) -> dict[str, Any]:
    """Launch options for Debian's Chromium, with ``PLAYWRIGHT_LAUNCH_OPTIONS`` merged over them."""
    args = list(CHROMIUM_ARGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.insert(0, "--no-sandbox")  # Chromium's sandbox refuses to run as root
    configured = dict(settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
    args += [a for a in configured.pop("args", ()) if a not in args]
    options: dict[str, Any] = {
        "executable_path": settings.get("SCRAPERQ_CHROMIUM_PATH") or DEFAULT_CHROMIUM,
        "headless": True,
        "args": args,
    }
    options.update(configured)
    return options


class RenderingDownloadHandler(ScrapyPlaywrightDownloadHandler):
    abort_request: Any  # set by the parent from PLAYWRIGHT_ABORT_REQUEST, or here

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        settings = crawler.settings
        self.config.launch_options = chromium_launch_options(settings)
        self.pages_per_context = max(1, settings.getint("SCRAPERQ_RENDER_PAGES_PER_CONTEXT", 100))
        self.wait_timeout = settings.getfloat("SCRAPERQ_RENDER_WAIT_TIMEOUT", 10.0)
        if self.abort_request is None:
            skipped = frozenset(settings.getlist("SCRAPERQ_RENDER_SKIP_RESOURCES", ["image", "media", "font"]))
            self.abort_request = _skip_resource_types(skipped) if skipped else None
        self.guard = BrowserGuard(
            parse_allow_private(settings.get("SCRAPERQ_ALLOW_PRIVATE", "0")),
            connect_timeout=settings.getfloat("DOWNLOAD_TIMEOUT", 30),
            on_refused=lambda host, reason: self.stats.inc_value("scraperq/render/blocked"),
        )
        # Scrapy makes one handler per scheme; the first made for a crawler runs its one browser.
        self.primary: RenderingDownloadHandler = _PRIMARY.setdefault(crawler, self)
        self._started = False
        self._start_lock = asyncio.Lock()
        self._generation = 0
        self._served: Counter[str] = Counter()  # pages started per context name
        self._open: Counter[str] = Counter()  # pages in flight per context name

    async def _maybe_launch_in_thread(self) -> None:
        # scrapy-playwright starts Playwright when the engine starts; we wait for a
        # request that needs it (see _start), so this start-up hook does nothing.
        return None

    async def _start(self) -> None:
        async with self._start_lock:
            if self._started:
                return
            executable = self.config.launch_options.get("executable_path")
            if executable and not os.access(executable, os.X_OK):
                raise ConfigError(
                    f"cannot render: no browser at {executable}; install Debian's chromium"
                    " or point SCRAPERQ_CHROMIUM_PATH at one"
                )
            await self.guard.start()
            self.config.launch_options["proxy"] = self._guard_proxy()
            await self._launch()
            self._started = True
            self.stats.set_value("scraperq/render/browser_started", 1)

    async def download_request(self, request: Request) -> Response:  # type: ignore[override]
        if not request.meta.get("playwright"):
            return await super().download_request(request)
        if self.primary is not self:
            return await self.primary.download_request(request)
        await self._start()
        self._keep_behind_guard(request)
        own_context = "playwright_context" not in request.meta
        name = await self._context_for_page() if own_context else request.meta["playwright_context"]
        if own_context:
            request.meta["playwright_context"] = name
        self._open[name] += 1
        try:
            response = await super().download_request(request)
        finally:
            self._open[name] -= 1
            if own_context:
                await self._retire_if_done(name)
        self.stats.inc_value("scraperq/render/pages")
        return response

    def _keep_behind_guard(self, request: Request) -> None:
        """Contexts a request asks for still connect through the guard (their own proxy would not)."""
        kwargs = request.meta.get("playwright_context_kwargs")
        if not kwargs:
            return
        if not isinstance(kwargs, dict) or "user_data_dir" in kwargs:
            raise ConfigError("cannot render: persistent browser contexts would bypass the SSRF rules")
        request.meta["playwright_context_kwargs"] = {**kwargs, "proxy": self._guard_proxy()}

    def _guard_proxy(self) -> dict[str, str]:
        # "<-loopback>" sends loopback through the proxy too: Chromium would go direct by default.
        return {"server": self.guard.proxy_url, "bypass": "<-loopback>"}

    async def _context_for_page(self) -> str:
        name = f"{_CONTEXT_PREFIX}{self._generation}"
        if self._served[name] >= self.pages_per_context:
            self._generation += 1
            # Its last page may be done already; otherwise that page's end closes it.
            await self._retire_if_done(name)
            name = f"{_CONTEXT_PREFIX}{self._generation}"
        self._served[name] += 1
        return name

    async def _retire_if_done(self, name: str) -> None:
        current = f"{_CONTEXT_PREFIX}{self._generation}"
        if name == current or self._open[name] > 0:
            return
        self._open.pop(name, None)
        self._served.pop(name, None)
        wrapper = self.context_wrappers.get(name)
        if wrapper is not None:
            try:
                await wrapper.context.close()
            except PlaywrightError as exc:
                logger.debug("Browser context %s was already gone: %s", name, exc)
            self.stats.inc_value("scraperq/render/contexts_closed")

    async def _apply_page_methods(self, page: Page, request: Request, spider: Spider) -> None:
        await super()._apply_page_methods(page, request, spider)
        selector = request.meta.get(RENDER_WAIT_FOR)
        if selector:
            try:
                await page.wait_for_selector(selector, state="attached", timeout=self.wait_timeout * 1000)
            except PlaywrightError:
                raise RenderTimeout(f"{selector} did not appear within {self.wait_timeout:g} s") from None

    async def _close(self) -> None:
        try:
            await super()._close()
        finally:
            await self.guard.close()


def _skip_resource_types(types: frozenset[str]) -> Any:
    def abort(request: BrowserRequest) -> bool:
        return request.resource_type in types

    return abort
