"""The fields the project's spiders declare for their items, readable without Scrapy.

The CSV export puts a spider's declared fields first, in their declared order, as
Scrapy's ``CsvItemExporter`` does; the scheduler's API exports CSV too and never
loads Scrapy, so the order is kept here. The item classes (``scraperq.items``) and
the spiders stay the truth: a test keeps :data:`SPIDER_FIELDS` equal to what they
declare. Source files declare theirs in their own ``fields``.
"""

from __future__ import annotations

from collections.abc import Iterable

# The keys of the generic spider's pages (plain dicts, for speed: see ValidatePipeline),
# in the order they are stored; feed and sitemap articles add ENTRY_FIELDS.
PAGE_FIELDS = (
    "url",
    "status",
    "content_type",
    "size",
    "title",
    "description",
    "canonical",
    "language",
    "headline",
    "published",
    "modified",
    "authors",
    "site_name",
    "image",
    "sections",
    "tags",
    "headings",
    "text",
    "links",
    "opengraph",
    "json_ld",
)
# What a feed or sitemap entry adds to the page it leads to (scraperq.spiders.listing).
ENTRY_FIELDS = ("categories", "listed_in", "entry")

# The Python spiders of scraperq/spiders/, by name (jsonapi declares fields only per source).
SPIDER_FIELDS: dict[str, tuple[str, ...]] = {
    "generic": PAGE_FIELDS,
    "feed": (
        "url",
        "title",
        "id",
        "published",
        "updated",
        "author",
        "summary",
        "categories",
        "feed",
        "feed_title",
    ),
    "sitemap": ("url", "lastmod", "changefreq", "priority", "sitemap"),
    "jsonapi": (),
    "example_news": (
        "url",
        "title",
        "category",
        "source_category",
        "published",
        "author",
        "summary",
        "body",
    ),
    "example_books_api": ("url", "id", "title", "author", "rank"),
}


def declared_fields_of_spiders(spiders: Iterable[str], sources_dir: str | None) -> list[str]:
    """The declared fields of these spiders' items, in turn (spiders this project no longer has add none)."""
    from scraperq.sources.files import source_summaries

    sources = {summary.name: summary.fields for summary in source_summaries(sources_dir)}
    fields: list[str] = []
    for name in spiders:
        fields.extend(SPIDER_FIELDS.get(name, sources.get(name, ())))
    return list(dict.fromkeys(fields))
