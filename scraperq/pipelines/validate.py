"""Refuse items that cannot be stored, and say why against their task.

An item must be something itemadapter understands, JSON-serializable once
dates and the like are turned into text, and carry every field its class marks
``required`` (``scrapy.Field(required=True)``, or ``metadata={"required": True}``
on dataclass/attrs fields). A refused item is dropped with the reason, counted in
``scraperq/items/invalid``, recorded against its task (``tasks.invalid_items``,
see :mod:`scraperq.pipelines.invalid`) and never stored.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from itemadapter import ItemAdapter, is_item
from scrapy.exceptions import DropItem

from scraperq.pipelines.invalid import InvalidItemLog
from scraperq.storage.connection import JsonText

logger = logging.getLogger(__name__)


def _json_default(value: Any) -> Any:
    if is_item(value):  # an item nested in a plain dict
        return ItemAdapter(value).asdict()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"field value of type {type(value).__name__} cannot be stored as JSON")


def _without_nul(value: Any) -> Any:
    # PostgreSQL text and jsonb cannot hold U+0000, which scraped pages do contain.
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def to_json_text(item: Any) -> str:
    """The item as JSON text; NaN and infinities are refused (ValueError): JSON has no spelling for them."""
    # A plain dict, what most spiders yield, goes straight to the encoder: ItemAdapter's
    # recursive asdict() costs more than the encoding itself (bench/queue_throughput.py).
    data = item if type(item) is dict else ItemAdapter(item).asdict()
    try:
        return json.dumps(data, default=_json_default, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise ValueError("a field holds NaN or infinity, which JSON cannot store") from None


def stored_json(item: Any) -> JsonText:
    """The item as the JSON text stored for it: NUL characters dropped (ValueError, TypeError as to_json_text)."""
    text = to_json_text(item)
    if "\\u0000" in text:  # rare: decode, clean and encode again rather than edit escapes in place
        return JsonText(json.dumps(_without_nul(json.loads(text)), ensure_ascii=False))
    return JsonText(text)


def missing_required(item: Any) -> list[str]:
    if type(item) is dict:
        return []  # a plain dict declares no fields
    adapter = ItemAdapter(item)
    missing = []
    for name in adapter.field_names():
        meta = adapter.get_field_meta(name)
        if meta.get("required") and adapter.get(name) in (None, "", [], {}):
            missing.append(name)
    return missing


class ValidatePipeline:
    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.invalid_log = InvalidItemLog.from_crawler(crawler)

    @classmethod
    def from_crawler(cls, crawler: Any) -> ValidatePipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if type(item) is not dict and not is_item(item):
            self._invalid(item, f"not an item: {type(item).__name__}")
        missing = missing_required(item)
        if missing:
            self._invalid(item, f"missing required field{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        try:
            to_json_text(item)
        except (TypeError, ValueError) as exc:
            self._invalid(item, str(exc))
        return item

    def _invalid(self, item: Any, reason: str) -> None:
        self.crawler.stats.inc_value("scraperq/items/invalid")
        self.invalid_log.record(item, reason)
        raise DropItem(f"invalid item: {reason}")

    async def close_spider(self) -> None:
        await self.invalid_log.close()
