"""How a worker reads its spider's start payloads: scraperq's format, or scrapy-redis'.

The feeder (:mod:`scraperq.queue.feeder`) takes payloads from the spider's start
key and asks the spider's reader what a payload asks for (:meth:`read`: a
:class:`~scraperq.payloads.StartPayload` with the task's URL, priority, task id
and meta, or :class:`~scraperq.errors.BadInput` saying why not) and the requests
that crawl it (:meth:`requests`). Either refusal sends the payload to ``NAME:dead``.

* :class:`TaskStartReader`, for scraperq's spiders: payloads as DESIGN.md says,
  one request from ``spider.start_request(url, **meta)``.
* :class:`ScrapyRedisStartReader`, for spiders written for scrapy-redis
  (``RedisSpider``, ``RedisCrawlSpider``, anything with its ``RedisMixin``): the
  spider's ``redis_key`` is the start key and ``redis_batch_size`` payloads are
  taken at a time. Each payload goes to the spider's own ``make_request_from_data``
  as the bytes scrapy-redis would hand it (in ``redis_encoding``), so overrides of
  it work unchanged, as does scrapy-redis' JSON form (``url``, ``meta``, ``method``,
  the other keys sent as form data). Two keys are scraperq's and are taken out
  before the spider sees the data: ``task_id`` and ``priority``. What the spider
  makes is checked as any start URL is (scheme, blocked addresses), and the
  payload's ``meta`` sets the keys Scrapy reads only as :mod:`scraperq.payload_meta` allows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from scrapy import Request
from scrapy_redis.spiders import RedisMixin

from scraperq.errors import BadInput, first_line
from scraperq.payload_meta import check_spider_meta
from scraperq.payloads import MAX_PRIORITY, AllowPrivate, StartPayload, check_start_url, parse_payload

# Keys of a scrapy-redis JSON payload that scraperq reads itself.
OWN_KEYS = ("task_id", "priority")


def is_scrapy_redis_spider(spider: Any) -> bool:
    """Whether the spider was written for scrapy-redis (it reads its start URLs from ``redis_key``)."""
    return isinstance(spider, RedisMixin)


def start_key_of(spider: Any) -> str | None:
    """The spider's own start key (scrapy-redis' ``redis_key``), or None for the queue's default."""
    if is_scrapy_redis_spider(spider) and getattr(spider, "redis_key", None):
        return str(spider.redis_key)
    return None


def class_start_key(spidercls: Any, name: str) -> str | None:
    """The start key a spider class names (``redis_key``, for the CLI's look before any crawl), or None."""
    if isinstance(spidercls, type) and issubclass(spidercls, RedisMixin) and spidercls.redis_key:
        return str(spidercls.redis_key) % {"name": name}
    return None


@dataclass(frozen=True)
class ReadPayload(StartPayload):
    """A payload read by :class:`ScrapyRedisStartReader`, with the requests the spider made from it."""

    made: tuple[Request, ...] = ()


class TaskStartReader:
    """scraperq's payloads for scraperq's spiders."""

    batch: int | None = None  # the feeder's own SCRAPERQ_FEED_BATCH

    def __init__(self, spider: Any, *, allow: AllowPrivate, max_bytes: int) -> None:
        self.spider = spider
        self.allow = allow
        self.max_bytes = max_bytes

    def read(self, raw: str) -> StartPayload:
        return parse_payload(raw, allow=self.allow, max_bytes=self.max_bytes)

    def requests(self, payload: StartPayload) -> list[Request]:
        try:
            request = self.spider.start_request(payload.url, **payload.meta)
        except (BadInput, TypeError, ValueError) as exc:
            raise BadInput(f"the spider refused it: {exc}") from None
        request.priority = payload.priority
        return [request]


class ScrapyRedisStartReader(TaskStartReader):
    """scrapy-redis' payloads, made into requests by the spider's ``make_request_from_data``."""

    def __init__(self, spider: Any, *, allow: AllowPrivate, max_bytes: int) -> None:
        super().__init__(spider, allow=allow, max_bytes=max_bytes)
        self.encoding = str(getattr(spider, "redis_encoding", None) or "utf-8")
        size = getattr(spider, "redis_batch_size", None)
        self.batch = int(size) if size else None

    def read(self, raw: str) -> StartPayload:
        size = len(raw.encode("utf-8", "surrogatepass"))
        if size > self.max_bytes:
            raise BadInput(f"payload of {size} bytes is larger than the limit of {self.max_bytes}")
        if not raw.strip():
            raise BadInput("empty payload")
        data, task_id, priority, meta = self._own_keys(raw)
        try:
            made = self.spider.make_request_from_data(data)
            requests = [made] if isinstance(made, Request) else list(made or ())
        except Exception as exc:  # the spider's own code: a bug there must not stop the worker
            raise BadInput(f"make_request_from_data failed: {type(exc).__name__}: {first_line(exc)}") from None
        if not requests:
            raise BadInput("make_request_from_data made no request from it (a JSON payload needs a url)")
        for request in requests:
            if not isinstance(request, Request):
                raise BadInput(f"make_request_from_data gave {type(request).__name__}, not a Request")
            check_start_url(request.url, self.allow)
            if priority is not None:
                request.priority = priority
        first = requests[0]
        return ReadPayload(
            url=first.url,
            task_id=task_id,
            priority=int(first.priority) if priority is None else priority,
            meta=meta,
            made=tuple(requests),
        )

    def requests(self, payload: StartPayload) -> list[Request]:
        assert isinstance(payload, ReadPayload)
        return list(payload.made)

    def _own_keys(self, raw: str) -> tuple[bytes, int | None, int | None, dict[str, Any]]:
        """The data for the spider (bytes, scraperq's keys taken out), task id, priority and payload meta."""
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            return raw.encode(self.encoding, "replace"), None, None, {}
        if not isinstance(parsed, dict):
            return raw.encode(self.encoding, "replace"), None, None, {}
        meta = check_spider_meta(parsed.get("meta") or {})
        task_id = parsed.get("task_id")
        if task_id is not None and (not _whole(task_id) or task_id < 1):
            raise BadInput(f"payload task_id {task_id!r} is not a positive whole number")
        priority = parsed.get("priority")
        if priority is not None and (not _whole(priority) or abs(priority) > MAX_PRIORITY):
            raise BadInput(
                f"payload priority {priority!r} is not a whole number from -{MAX_PRIORITY} to {MAX_PRIORITY}"
            )
        if not any(key in parsed for key in OWN_KEYS):
            return raw.encode(self.encoding, "replace"), None, None, meta
        rest = {k: v for k, v in parsed.items() if k not in OWN_KEYS}
        return json.dumps(rest, ensure_ascii=False).encode(self.encoding, "replace"), task_id, priority, meta


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def reader_for(spider: Any, *, allow: AllowPrivate, max_bytes: int) -> TaskStartReader:
    """The reader of this spider's start payloads."""
    if is_scrapy_redis_spider(spider):
        return ScrapyRedisStartReader(spider, allow=allow, max_bytes=max_bytes)
    return TaskStartReader(spider, allow=allow, max_bytes=max_bytes)
