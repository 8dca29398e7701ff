"""The queue's lines in ``scraperq status``: Redis, and what waits and who works per spider (CLI floor).

Settings: ``REDIS_URL``, ``REDIS_PARAMS`` and the key settings (see :mod:`scraperq.queue.keys`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from scraperq.errors import StorageUnavailable
from scraperq.queue.connection import REDIS_DOWN_ERRORS, client_from_settings, describe_error, redis_url
from scraperq.queue.keys import QueueKeys
from scraperq.queue.redisqueue import QueueSizes, RedisQueue
from scraperq.queue.startreader import class_start_key
from scraperq.storage.connection import redact_url

if TYPE_CHECKING:
    from scraperq.cli.status import StatusContext, StatusLine


def queue_section(ctx: StatusContext) -> list[StatusLine]:
    from scraperq.cli.status import StatusLine

    url = redis_url(ctx.settings)
    if url is None:
        return [StatusLine("redis", None, "not set (REDIS_URL): crawls use the in-process queue")]
    try:
        client = client_from_settings(ctx.settings)
    except StorageUnavailable as exc:
        return [StatusLine("redis", f"unreachable: {exc}")]
    try:
        spiders = spider_classes(ctx.settings)
        queues = {name: sizes for name, cls in spiders.items() if (sizes := _sizes(client, name, cls, ctx))}
    except REDIS_DOWN_ERRORS as exc:
        return [StatusLine("redis", f"unreachable: {redact_url(url)}: {describe_error(exc)}")]
    finally:
        client.close()
    text = "; ".join(f"{spider}: {describe(sizes)}" for spider, sizes in queues.items()) or "empty"
    return [
        StatusLine("redis", redact_url(url)),
        StatusLine("queues", {spider: asdict(sizes) for spider, sizes in queues.items()}, text),
    ]


def _sizes(client: object, spider: str, spidercls: object, ctx: StatusContext) -> QueueSizes | None:
    # A spider written for scrapy-redis takes its start payloads from its own redis_key.
    keys = QueueKeys.for_spider(spider, ctx.settings, start_urls=class_start_key(spidercls, spider))
    sizes = RedisQueue(client, keys).sizes()  # type: ignore[arg-type]
    return sizes if any(asdict(sizes).values()) else None


def describe(sizes: QueueSizes) -> str:
    parts = [
        f"{sizes.start_urls} start URLs",
        f"{sizes.requests} queued",
        f"{sizes.delayed} delayed",
        f"{sizes.held} held by {sizes.workers} worker{'s' if sizes.workers != 1 else ''}",
    ]
    if sizes.dead:
        parts.append(f"{sizes.dead} dead letters")
    return ", ".join(parts)


def spider_classes(settings: object) -> dict[str, object]:
    """Every spider of the project by name, in name order, with its class."""
    from scrapy.spiderloader import get_spider_loader

    loader = get_spider_loader(settings)  # type: ignore[arg-type]
    return {name: loader.load(name) for name in sorted(loader.list())}
