"""The project's spider loader: Python spiders, plus one spider per source file.

``SPIDER_LOADER_CLASS = "scraperq.sources.loader.SourceSpiderLoader"``. It loads
the spiders of ``SPIDER_MODULES`` as Scrapy's loader does, then every
``*.yaml``/``*.yml`` file in the package's own ``scraperq/sources/`` folder and
in the folders of ``SCRAPERQ_SOURCES_DIR`` (separated by ``:``), in name order.
So ``scrapy list``, ``scrapy crawl``, Scrapyd and the scheduler all see the
same spiders, and ``<name>:start_urls`` in Redis feeds a source like any spider.

A file with a mistake is refused with an error naming the file, the field and
the reason (logged, and kept in :attr:`SourceSpiderLoader.refused`); the other
spiders load as usual. So is a file whose spider name is already taken.

Settings: ``SPIDER_MODULES``, ``SCRAPERQ_SOURCES_DIR``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from scrapy.settings import SETTINGS_PRIORITIES
from scrapy.spiderloader import SpiderLoader

from scraperq.sources.files import source_files
from scraperq.sources.schema import SourceError, spider_class_from_yaml

logger = logging.getLogger(__name__)


class SourceSpiderLoader(SpiderLoader):
    def __init__(self, settings: Any) -> None:
        self.sources_dir: str | None = settings.get("SCRAPERQ_SOURCES_DIR")
        # `scrapy list` and the like make the loader before add-ons apply the environment.
        if (settings.getpriority("SCRAPERQ_SOURCES_DIR") or 0) < SETTINGS_PRIORITIES["cmdline"]:
            self.sources_dir = os.environ.get("SCRAPERQ_SOURCES_DIR", self.sources_dir)
        self.refused: list[SourceError] = []
        self.source_names: list[str] = []
        super().__init__(settings)

    def _load_all_spiders(self) -> None:
        super()._load_all_spiders()
        for label, stem, text in source_files(self.sources_dir):
            try:
                if isinstance(text, SourceError):
                    raise text
                spidercls = spider_class_from_yaml(text, file=label, stem=stem)
                taken = self._spiders.get(spidercls.name)
                if taken is not None:
                    where = getattr(taken, "source_file", None) or f"{taken.__module__}.{taken.__name__}"
                    raise SourceError(label, "name", f"{spidercls.name!r} is already the spider of {where}")
            except SourceError as exc:
                self.refused.append(exc)
                logger.error("Refused source file %s", exc)
                continue
            self._spiders[spidercls.name] = spidercls
            self._found[spidercls.name].append((label, spidercls.__name__))
            self.source_names.append(spidercls.name)
