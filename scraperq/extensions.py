"""Scrapy extensions of the project.

:class:`FreezeStartupObjects`: a worker imports Scrapy, Twisted, Playwright,
psycopg and their dependencies, well over 100,000 objects that live as long as
the process. Python's cyclic garbage collector walks every one of them on each
full collection, several times a minute on a busy crawl, each time stopping the
crawl for tens of milliseconds. Once the engine has started, everything that
exists is start-up state: it is collected once, then moved out of the
collector's sight with :func:`gc.freeze`, as the :mod:`gc` documentation
suggests for long-lived processes. Objects made later are collected as before,
with the youngest generation examined every 7,000 allocations instead of 700: a
crawl makes and drops requests, responses and items by the thousand, and nearly
all of them are freed by reference counting before any collection would see
them. On ``bench/queue_throughput.py`` the collector took about 0.8 s of a
3,000-page crawl with Python's defaults, and 0.3 s with both.

Settings: ``SCRAPERQ_GC_FREEZE`` (default on).
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class FreezeStartupObjects:
    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FreezeStartupObjects:
        if not crawler.settings.getbool("SCRAPERQ_GC_FREEZE", True):
            raise NotConfigured
        extension = cls()
        crawler.signals.connect(extension.engine_started, signal=signals.engine_started)
        return extension

    def engine_started(self) -> None:
        gc.collect()  # what start-up left as garbage goes now, not into the frozen set
        gc.freeze()
        gc.set_threshold(7000, 10, 10)
