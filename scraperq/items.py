"""Declared item classes of the ready and per-source spiders.

Plain ``scrapy.Item`` classes, so anything built on itemadapter understands them.
A field declared ``scrapy.Field(required=True)`` must be present and not empty:
ValidatePipeline refuses an item that lacks one, counts it against the task it
came from (``tasks.invalid_items``, ``tasks.invalid_reason``) and never stores it.

Source files (``scraperq/sources/*.yaml``) declare their own items; they become
classes like these through :func:`declare_item`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import scrapy
from itemadapter import ItemAdapter


class Article(scrapy.Item):
    """A page of a news-like source: one story."""

    url = scrapy.Field(required=True)
    title = scrapy.Field(required=True)
    category = scrapy.Field()  # ours, after the source's category_map
    source_category = scrapy.Field()  # the source's own name for it
    published = scrapy.Field()
    author = scrapy.Field()
    summary = scrapy.Field()
    body = scrapy.Field()


class FeedEntry(scrapy.Item):
    """One entry of an RSS or Atom feed."""

    url = scrapy.Field(required=True)
    title = scrapy.Field()
    id = scrapy.Field()  # RSS guid, Atom id
    published = scrapy.Field()  # ISO 8601 when the feed's date could be read
    updated = scrapy.Field()
    author = scrapy.Field()
    summary = scrapy.Field()
    categories = scrapy.Field()
    feed = scrapy.Field(required=True)  # the feed's URL
    feed_title = scrapy.Field()


class SitemapEntry(scrapy.Item):
    """One ``<url>`` of an XML sitemap."""

    url = scrapy.Field(required=True)
    lastmod = scrapy.Field()
    changefreq = scrapy.Field()
    priority = scrapy.Field()
    sitemap = scrapy.Field(required=True)  # the sitemap that listed it


def declared_fields(spidercls: type) -> list[str]:
    """The fields a spider class says its items have, in order: its ``item_class``'s
    (Scrapy's order), its plain-dict ``item_fields``, or ``url`` and its field rules."""
    item_class = getattr(spidercls, "item_class", None)
    if item_class is not None:
        return list(ItemAdapter.get_field_names_from_class(item_class) or ())
    plain = getattr(spidercls, "item_fields", None)
    if plain:
        return list(plain)
    rules = getattr(spidercls, "fields", None)
    if isinstance(rules, Mapping) and rules:
        return list(dict.fromkeys(["url", *rules]))
    return []


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def declare_item(name: str, fields: Mapping[str, bool] | Iterable[str]) -> type[scrapy.Item]:
    """A ``scrapy.Item`` class with these fields; a mapping says which are required."""
    required = dict(fields) if isinstance(fields, Mapping) else dict.fromkeys(fields, False)
    attrs: dict[str, object] = {"__module__": __name__}
    for field_name, is_required in required.items():
        if not _IDENTIFIER.match(field_name):
            raise ValueError(f"{field_name!r} is not a usable field name (letters, digits and _)")
        attrs[field_name] = scrapy.Field(required=True) if is_required else scrapy.Field()
    class_name = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part) or "Source"
    return type(f"{class_name}Item", (scrapy.Item,), attrs)


def field_names(item_class: type) -> set[str]:
    """The fields an item class declares (empty for dict-like classes that declare none)."""
    if not ItemAdapter.is_item_class(item_class) or issubclass(item_class, dict):
        return set()
    return set(ItemAdapter.get_field_names_from_class(item_class) or ())
