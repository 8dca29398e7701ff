"""ValidatePipeline: items that cannot be stored are dropped with a reason; the rest pass as they are."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import scrapy
from scrapy import Spider
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from scraperq.pipelines.validate import ValidatePipeline, stored_json


class Book(scrapy.Item):
    title = scrapy.Field(required=True)
    isbn = scrapy.Field(required=True)
    price = scrapy.Field()


@dataclasses.dataclass
class Article:
    url: str = dataclasses.field(metadata={"required": True})
    body: str | None = None


@pytest.fixture
def pipeline() -> ValidatePipeline:
    return ValidatePipeline.from_crawler(get_crawler(Spider))


def invalid_count(pipeline: ValidatePipeline) -> Any:
    return pipeline.crawler.stats.get_value("scraperq/items/invalid")


@pytest.mark.parametrize(
    "item",
    [
        {"title": "A page", "links": ["https://example.com/"]},
        Book(title="Dune", isbn="978-0441013593", price=9.99),
        Article(url="https://example.com/a"),
    ],
)
def test_a_storable_item_passes_unchanged(pipeline: ValidatePipeline, item: Any) -> None:
    assert pipeline.process_item(item) is item
    assert invalid_count(pipeline) is None


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (Book(title="Dune"), "missing required field: isbn"),
        (Book(title="", isbn=""), "missing required fields: title, isbn"),
        (Article(url=""), "missing required field: url"),
    ],
)
def test_an_item_missing_required_fields_is_dropped_naming_them(
    pipeline: ValidatePipeline, item: Any, reason: str
) -> None:
    with pytest.raises(DropItem, match=f"invalid item: {reason}$"):
        pipeline.process_item(item)
    assert invalid_count(pipeline) == 1


def test_a_value_that_is_not_json_is_dropped_naming_its_type(pipeline: ValidatePipeline) -> None:
    with pytest.raises(DropItem, match="invalid item: field value of type object cannot be stored as JSON"):
        pipeline.process_item({"title": "x", "handle": object()})
    assert invalid_count(pipeline) == 1


def test_something_that_is_not_an_item_is_dropped(pipeline: ValidatePipeline) -> None:
    with pytest.raises(DropItem, match="invalid item: not an item: str"):
        pipeline.process_item("just a string")


def test_dates_decimals_sets_and_bytes_are_stored_as_json_values() -> None:
    item = {
        "when": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        "day": date(2024, 5, 1),
        "price": Decimal("9.50"),
        "tags": ("a", "b"),
        "raw": b"caf\xc3\xa9",
    }
    assert json.loads(stored_json(item)) == {
        "when": "2024-05-01T12:00:00+00:00",
        "day": "2024-05-01",
        "price": 9.5,
        "tags": ["a", "b"],
        "raw": "café",
    }


def test_stored_json_drops_nul_characters_and_unpacks_nested_items() -> None:
    import scrapy

    class Author(scrapy.Item):
        name = scrapy.Field()

    assert json.loads(stored_json({"text": "a\x00b", "author": Author(name="Ann")})) == {
        "text": "ab",
        "author": {"name": "Ann"},
    }
    assert json.loads(stored_json({"text": "a\\u0000b"})) == {"text": "a\\u0000b"}  # the six characters stay
