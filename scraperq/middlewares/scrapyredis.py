"""Spiders written for scrapy-redis run unchanged as workers of the shared queue.

A ``RedisSpider`` or ``RedisCrawlSpider`` reads its ``redis_key`` with destructive
pops when the crawl is idle, outside any lease. This spider middleware takes that
over: the spider's idle handler is disconnected, its ``fetch_data`` (the pop) is
replaced by one that takes nothing, and the crawl's start becomes the worker's
service of the shared queue (:func:`scraperq.queue.scheduler.serve_start_urls`).
What is pushed to ``redis_key`` is then taken under a lease, becomes a task, is
made into requests by the spider's own ``make_request_from_data``
(:mod:`scraperq.queue.startreader`), crawled and stored like any payload.

What scraperq cannot keep of scrapy-redis stops the crawl at its start, in one
line that says what to change (:func:`refusal`): scrapy-redis' own scheduler or
seen-set, start URLs kept in a set or sorted set, a flush of the queue at start,
closing on idle, and no ``REDIS_URL``. Enabled in settings.py and by the add-on (scraperq.addon).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.utils.misc import load_object

from scraperq.errors import ConfigError
from scraperq.queue.startreader import is_scrapy_redis_spider

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

# scrapy-redis' components that would run beside the shared queue and defeat it.
SCRAPY_REDIS_SCHEDULER = "scrapy_redis.scheduler.Scheduler"
SCRAPY_REDIS_DUPEFILTER = "scrapy_redis.dupefilter.RFPDupeFilter"


def _is(setting: Any, dotted: str) -> bool:
    try:
        cls, base = load_object(setting) if isinstance(setting, str) else setting, load_object(dotted)
    except (ImportError, NameError, ValueError, AttributeError):
        return False
    return isinstance(cls, type) and issubclass(cls, base)


def refusal(settings: BaseSettings, spider: Any) -> str | None:
    """Why this crawl cannot run on scraperq as configured, in one line saying what to change; or None."""
    if _is(settings.get("SCHEDULER"), SCRAPY_REDIS_SCHEDULER):
        return (
            "SCHEDULER is scrapy-redis' scheduler, which pops requests without a lease:"
            " remove the SCHEDULER line (scraperq.addon.Addon sets scraperq's)"
        )
    if _is(settings.get("DUPEFILTER_CLASS"), SCRAPY_REDIS_DUPEFILTER):
        return (
            "DUPEFILTER_CLASS is scrapy-redis' RFPDupeFilter, whose set would clash with scraperq's per-task"
            " seen-set in NAME:dupefilter: remove the DUPEFILTER_CLASS line"
        )
    if settings.getbool("SCHEDULER_FLUSH_ON_START"):
        return (
            "SCHEDULER_FLUSH_ON_START would delete the queue other workers share: remove it"
            " (to empty a spider's queue, delete its keys while no worker runs)"
        )
    if not is_scrapy_redis_spider(spider):
        return None
    name = spider.name
    for setting in ("REDIS_START_URLS_AS_SET", "REDIS_START_URLS_AS_ZSET"):
        if settings.getbool(setting):
            return (
                f"{setting}: scraperq takes start payloads from a list under a lease; remove the setting"
                f" and push with LPUSH {spider.redis_key} (move what the old key holds with"
                f" SMEMBERS/ZRANGE and LPUSH)"
            )
    idle = getattr(spider, "max_idle_time", 0)
    if idle:
        return (
            f"MAX_IDLE_TIME_BEFORE_CLOSE (max_idle_time={idle}) of spider {name!r}: a worker of the shared queue"
            " waits for work until it is stopped (SIGTERM stops it cleanly); remove the setting"
        )
    if not settings.get("REDIS_URL"):
        return f"spider {name!r} reads its start URLs from Redis ({spider.redis_key}): set REDIS_URL"
    return None


class ScrapyRedisSpiderMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        spider = crawler.spider
        problem = refusal(crawler.settings, spider)
        if problem is not None:
            raise ConfigError(problem)
        self.active = is_scrapy_redis_spider(spider)
        if self.active:
            self._take_over(spider)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ScrapyRedisSpiderMiddleware:
        return cls(crawler)

    def _take_over(self, spider: Any) -> None:
        """Stop the spider's own reading of ``redis_key``: the shared queue's feeder reads it under a lease."""
        self.crawler.signals.disconnect(spider.spider_idle, signal=signals.spider_idle)
        warned: list[bool] = []

        def no_pop(redis_key: str, batch_size: int) -> list[bytes]:
            if not warned:
                warned.append(True)
                logger.warning(
                    "%s asked to pop %s itself: ignored, the shared queue's worker takes it under a lease",
                    spider.name,
                    redis_key,
                )
            return []

        spider.fetch_data = no_pop
        # scrapy-redis' example spiders set allowed_domains to a filter(), which Scrapy 2.19's
        # offsite middlewares read more than once: the second read finds it empty but true, and
        # every followed link would be refused. Read it once, into the list it stands for.
        domains = getattr(spider, "allowed_domains", None)
        if domains is not None and not isinstance(domains, (list, tuple, set, frozenset, str)):
            spider.allowed_domains = list(domains)
        logger.info("scrapy-redis spider %s: start payloads from %s, under leases", spider.name, spider.redis_key)

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        if not self.active:
            async for obj in start:
                yield obj
            return
        from scraperq.queue.scheduler import serve_start_urls

        # scrapy-redis' start was its redis_key alone (start_requests read it): so is ours.
        # This returns only when the crawl closes: the worker never closes on idle.
        await serve_start_urls(self.crawler)
