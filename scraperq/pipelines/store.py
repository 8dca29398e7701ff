"""Store each item in ``results`` through the crawl's batch writer.

Writes are buffered and committed one transaction per batch (``SCRAPERQ_BATCH_SIZE``
items or ``SCRAPERQ_BATCH_SECONDS``, and at close). The unique key on
``(task_id, fingerprint)`` makes a re-delivered request insert nothing new.
In only-new crawls each result claims its page (scraperq.onlynew), and is stored
only if the claim succeeds.
"""

from __future__ import annotations

import logging
from typing import Any

from scraperq.crawlstore import CrawlStore
from scraperq.onlynew import only_new_mode, page_claim
from scraperq.pipelines.validate import stored_json

logger = logging.getLogger(__name__)


class StorePipeline:
    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.store = CrawlStore.for_crawler(crawler)
        self.only_new, self.refresh = only_new_mode(crawler.spider, crawler.settings)

    @classmethod
    def from_crawler(cls, crawler: Any) -> StorePipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        ctx = self.store.item_context.pop(id(item), None)
        if ctx is None or ctx.task_id is None:
            self.crawler.stats.inc_value("scraperq/items/without_task")
            logger.warning("Not storing an item that belongs to no task: %r", item)
            return item
        # Encoded here, on the crawl's thread, once: the batch writer's thread passes the
        # text on untouched instead of encoding every item while holding the interpreter lock.
        claim = page_claim(item, ctx.url, refresh=self.refresh) if self.only_new else None
        self.store.add_result(ctx, stored_json(item), claim=claim)
        return item
