"""The generic spider on stock scrapy-redis, for ``bench/queue_throughput.py`` mode (b).

Same parsing and link following as ``scrapy crawl generic``; start URLs come from
``stock_generic:start_urls`` the scrapy-redis way (``RedisMixin``: read when idle,
``DontCloseSpider`` until ``MAX_IDLE_TIME_BEFORE_CLOSE``), requests go through
scrapy-redis' scheduler and dupefilter (pickled, popped without acknowledgement).
Run with ``scrapy runspider bench/stock_spider.py`` and the settings the benchmark passes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from scrapy_redis.spiders import RedisMixin

from scraperq.spiders.generic import GenericSpider


class StockRedisGenericSpider(RedisMixin, GenericSpider):
    name = "stock_generic"

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> StockRedisGenericSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.setup_redis(crawler)
        return spider

    async def start(self) -> AsyncIterator[Any]:
        for request in self.next_requests():
            yield request

    def make_request_from_data(self, data: bytes) -> Any:
        return self.start_request(data.decode())
