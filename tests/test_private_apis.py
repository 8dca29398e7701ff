"""What scraperq reads beyond the public APIs of Scrapy and scrapy-playwright, checked on the pinned versions.

Neither offers a public way to do these few things, so the modules named below use members
that may change in any release:

* the requests the engine has in hand (``engine._slot.inprogress``) and its wake-up
  (``engine._slot.nextcall.schedule()``): the Redis scheduler acknowledges queue entries
  once their requests have left the engine, ``scraperq.settling`` ends tasks then, and a
  slot opening early wakes the engine instead of leaving it idle up to 5 s;
* the spider loader's registry (``SpiderLoader._load_all_spiders``, ``_spiders``,
  ``_found``): ``scraperq.sources.loader`` adds the spiders of source files beside the
  modules' spiders, with Scrapy's own duplicate-name warning;
* scrapy-playwright's start and stop of its browser (``_maybe_launch_in_thread``,
  ``_launch``, ``_close``) and its page set-up (``_apply_page_methods``):
  ``scraperq.rendering.handler`` starts Chromium only when a page needs it and behind the
  SSRF proxy.

An upgrade that changes one of them fails here, naming the member and the module that needs
it, rather than in a crawl whose tasks stop ending.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import defaultdict

from scrapy.core.engine import ExecutionEngine, _Slot
from scrapy.settings import Settings
from scrapy.spiderloader import SpiderLoader
from scrapy.utils.reactor import CallLaterOnce
from scrapy_playwright.handler import Config, ScrapyPlaywrightDownloadHandler

from scraperq.rendering.handler import RenderingDownloadHandler
from scraperq.sources.loader import SourceSpiderLoader


def test_the_engine_keeps_its_requests_and_its_wake_up_in_its_slot() -> None:
    assert "self._slot = _Slot(" in inspect.getsource(ExecutionEngine), (
        "ExecutionEngine no longer keeps a _Slot in self._slot: the Redis scheduler and scraperq.settling need"
        " the requests in progress"
    )

    async def make_slot() -> _Slot:  # a slot's heartbeat needs an event loop, as under the engine
        woken: list[int] = []
        slot = _Slot(True, CallLaterOnce(lambda: woken.append(1)), scheduler=None)  # type: ignore[arg-type]
        slot.add_request("a request")  # type: ignore[arg-type]
        slot.nextcall.schedule()
        await asyncio.sleep(0.05)
        assert woken, "_Slot.nextcall.schedule() no longer calls the engine back"
        return slot

    slot = asyncio.run(make_slot())
    assert slot.inprogress == {"a request"}, "_Slot.inprogress is no longer the set of requests in progress"


def test_the_spider_loader_registry_the_source_loader_extends() -> None:
    assert "self._load_all_spiders()" in inspect.getsource(SpiderLoader.__init__), (
        "SpiderLoader.__init__ no longer calls _load_all_spiders: scraperq.sources.loader adds source spiders there"
    )
    loader = SpiderLoader(Settings({"SPIDER_MODULES": ["scraperq.spiders"]}))
    assert isinstance(loader._spiders, dict) and "generic" in loader._spiders
    assert isinstance(loader._found, defaultdict) and loader._found["generic"]
    # What the subclass does with them, on the same version: the modules' spiders and the bundled sources'.
    sources = SourceSpiderLoader(Settings({"SPIDER_MODULES": ["scraperq.spiders"]}))
    assert sources.source_names
    assert sorted(sources.list()) == sorted(loader.list() + sources.source_names)


def test_the_playwright_handler_members_the_rendering_handler_overrides() -> None:
    parent = ScrapyPlaywrightDownloadHandler
    for name in ("_maybe_launch_in_thread", "_launch", "_close", "_apply_page_methods"):
        member = getattr(parent, name, None)
        assert inspect.iscoroutinefunction(member), f"scrapy-playwright has no coroutine {name} any more"
        ours = getattr(RenderingDownloadHandler, name)
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(member).parameters), name
    init = inspect.getsource(parent.__init__)
    # Ours is what the engine_started signal starts (a bound method looked up on the instance).
    assert "signals.connect(self._maybe_launch_in_thread, signals.engine_started)" in init
    for attribute in ("self.config = Config.from_settings", "self.context_wrappers", "self.abort_request"):
        assert attribute in init, f"ScrapyPlaywrightDownloadHandler.__init__ no longer sets {attribute}"
    assert "launch_options" in Config.__dataclass_fields__
    assert "self._close()" in inspect.getsource(parent.close)
