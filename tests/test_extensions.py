"""FreezeStartupObjects: start-up objects leave the garbage collector's full passes once the engine starts."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from scrapy import Spider, signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from scraperq.extensions import FreezeStartupObjects


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_objects_alive_when_the_engine_starts_are_frozen(unfrozen: None) -> None:
    crawler = get_crawler(Spider, {"MEMUSAGE_ENABLED": False})
    extension = FreezeStartupObjects.from_crawler(crawler)  # signals hold receivers weakly: keep it
    assert gc.get_freeze_count() == 0
    crawler.signals.send_catch_log(signals.engine_started)
    assert gc.get_freeze_count() > 1000
    del extension


def test_the_setting_turns_it_off() -> None:
    with pytest.raises(NotConfigured):
        FreezeStartupObjects.from_crawler(get_crawler(Spider, {"SCRAPERQ_GC_FREEZE": False}))
