"""The per-source base: a source's listing pages, item links, fields, pagination and categories.

A per-source spider is a handful of class attributes::

    class ExampleNewsSpider(SourceSpider):
        name = "example_news"
        base_url = "https://news.example.org"
        categories = {"Inland": "/inland/", "Sport": "/sport/"}     # listing pages
        category_map = {"Inland": "national", "Sport": "sports"}    # their names -> ours
        item_links = LinkExtractor(restrict_css="h2.headline")      # listing -> item pages
        pagination = LinkExtractor(restrict_css="a[rel=next]")      # listing -> next listing
        fields = {"title": css("h1"), "published": css("time::attr(datetime)")}
        item_class = Article

Start pages (``start_urls``, the pages of ``categories``, or ``-a url=``) are
listing pages. From each, links matching ``item_links`` lead to item pages with
one item each, ``item_nodes`` (a css/xpath rule) picks items written on the
listing itself, and links matching ``pagination`` lead to the next listing page,
up to ``max_pages`` per start page. Links are followed within the page's own
registrable domain unless the spider sets ``allowed_domains``. A spider with
neither ``item_links`` nor ``item_nodes`` reads its start pages as item pages,
and a start request with ``meta["source_page"] = "item"`` (for example from a
Redis payload) is read as one.

Categories: items reached from a category page carry the source's name for it;
a ``category`` field rule read on the item page wins. ``category_map`` turns the
source's names into ours (``category``; the original stays in ``source_category``);
an unmapped name leaves ``category`` empty, is counted in
``scraperq/source/unmapped_category`` and logged once.

Items are ``item_class`` instances; without one, an item class is declared from
``fields`` (a rule's ``required`` makes its field required). Everything else
(tasks, retries, the queue, storage) is TaskSpider's.

Arguments: ``url``/``urls``, ``base_url`` (resolve relative start pages against
another host, e.g. a staging copy), ``category`` (comma-separated source names:
only those category pages), ``max_pages``, ``render`` (never, auto, always).

Politeness: :data:`SOURCE_SETTINGS` (AutoThrottle, two requests at a time per
site, for all the spider's workers together) at spider priority; a subclass's ``custom_settings`` override them, and
robots.txt and ``USER_AGENT`` come from the project settings.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import urljoin

import scrapy
from parsel import Selector, SelectorList
from scrapy.http import Response, TextResponse
from scrapy.link import Link
from scrapy.linkextractors import LinkExtractor

from scraperq.errors import BadInput, ConfigError
from scraperq.fields import FieldRule
from scraperq.items import declare_item, field_names
from scraperq.rendering import parse_render_mode
from scraperq.scope import host_of, registrable_domain
from scraperq.spiders.arguments import SOURCE
from scraperq.spiders.base import TaskSpider
from scraperq.urls import validate_url

logger = logging.getLogger(__name__)

SOURCE_SETTINGS: dict[str, Any] = {
    # Adapt the delay to how fast the site answers; never more than two requests at once.
    "AUTOTHROTTLE_ENABLED": True,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
    # ... for all the source's workers together when they share a queue.
    "SCRAPERQ_SHARE_SITE_CONCURRENCY": True,
}

# Request meta.
SOURCE_CATEGORY = "source_category"  # the source's name for the category a page belongs to
SOURCE_PAGE = "source_page"  # "item" makes a start URL an item page
LISTING_PAGE = "listing_page"  # 1 for a start page, n for the n-th page of its pagination


class SourceSpider(TaskSpider):
    base_url: str | None = None
    start_urls: list[str] = []  # read only; __init__ sets the resolved list on the instance
    categories: ClassVar[Mapping[str, str]] = {}
    category_map: ClassVar[Mapping[str, str]] = {}
    item_links: ClassVar[LinkExtractor | None] = None
    pagination: ClassVar[LinkExtractor | None] = None
    item_nodes: ClassVar[FieldRule | None] = None
    fields: ClassVar[Mapping[str, FieldRule]] = {}
    item_class: type | None = None
    max_pages: int | None = None
    render: str = "never"
    render_wait_for: str | None = None
    arguments = SOURCE

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        settings.setdict(SOURCE_SETTINGS, priority="spider")
        super().update_settings(settings)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.args["base_url"]:
            self.base_url = self.args["base_url"]
        if self.args["max_pages"] is not None:
            self.max_pages = self.args["max_pages"]
        self.render = self.args["render"] or parse_render_mode(type(self).render)
        category = self.args["category"]
        self.item_class = self.item_class or self._declare_item_class()
        self._item_fields = field_names(self.item_class)
        unknown = sorted(set(self.fields) - self._item_fields - {"category"})
        if unknown:
            raise ConfigError(f"{self.name}: {self.item_class.__name__} has no field {', '.join(unknown)}")
        self._unmapped_seen: set[str] = set()
        wanted = [name.strip() for name in category.split(",") if name.strip()] if category else []
        self._category_pages = self._resolve_categories(wanted)
        if category:
            self.start_urls = list(self._category_pages)
        else:
            self.start_urls = [self._absolute(u) for u in type(self).start_urls] + list(self._category_pages)

    # -- start pages -----------------------------------------------------------------

    def _absolute(self, url: str) -> str:
        return validate_url(urljoin(self.base_url, url) if self.base_url else url)

    def _resolve_categories(self, wanted: list[str]) -> dict[str, str]:
        missing = [name for name in wanted if name not in self.categories]
        if missing:
            known = ", ".join(self.categories) or "none"
            raise BadInput(f"-a category={','.join(missing)}: not a category of {self.name} (it has: {known})")
        chosen = wanted or list(self.categories)
        return {self._absolute(self.categories[name]): name for name in chosen}

    def start_request(self, url: str, **meta: Any) -> scrapy.Request:
        meta.setdefault(LISTING_PAGE, 1)
        if url in self._category_pages:
            meta.setdefault(SOURCE_CATEGORY, self._category_pages[url])
        return super().start_request(url, **meta)

    # -- callbacks -------------------------------------------------------------------

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        """A listing page: its items, its item links and its next page."""
        response = _page(response)
        if response.meta.get(SOURCE_PAGE) == "item" or not (self.item_links or self.item_nodes):
            yield from self.parse_item(response)
            return
        category = response.meta.get(SOURCE_CATEGORY)
        carry = {SOURCE_CATEGORY: category} if category else {}
        if self.item_nodes is not None:
            for node in _select(response.selector, self.item_nodes):
                yield self.build_item(node, response, category)
        if self.item_links is not None:
            for link in self._links(self.item_links, response):
                yield response.follow(link.url, callback=self.parse_item, meta=dict(carry))
        page = int(response.meta.get(LISTING_PAGE, 1))
        if self.pagination is not None and (self.max_pages is None or page < self.max_pages):
            for link in self._links(self.pagination, response):
                yield response.follow(link.url, callback=self.parse, meta={**carry, LISTING_PAGE: page + 1})

    def parse_item(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        """An item page: one item from ``fields``."""
        response = _page(response)
        yield self.build_item(response.selector, response, response.meta.get(SOURCE_CATEGORY))

    # -- items -----------------------------------------------------------------------

    def build_item(self, selector: Selector, response: Response, category: str | None) -> Any:
        values: dict[str, Any] = {}
        for name, rule in self.fields.items():
            value = rule.extract(selector, response.url)
            if name == "url" and isinstance(value, str):
                value = response.urljoin(value)
            if value is not None:
                values[name] = value
        if "url" in self._item_fields:
            values.setdefault("url", response.url)
        source_name = values.pop("category", None) or category
        if source_name:
            if "source_category" in self._item_fields:
                values["source_category"] = source_name
            if "category" in self._item_fields:
                values["category"] = self.map_category(str(source_name))
        return self.item_class(**values)  # type: ignore[misc]

    def map_category(self, name: str) -> str | None:
        """Our name for the source's category ``name``; None when the map has no entry."""
        if not self.category_map:
            return name
        if name in self.category_map:
            return self.category_map[name]
        folded = {k.casefold(): v for k, v in self.category_map.items()}
        if name.casefold() in folded:
            return folded[name.casefold()]
        assert self.crawler is not None
        self.crawler.stats.inc_value("scraperq/source/unmapped_category")
        if name not in self._unmapped_seen:
            self._unmapped_seen.add(name)
            logger.warning("%s: category %r is not in category_map; its items get no category", self.name, name)
        return None

    def _declare_item_class(self) -> type:
        declared = {"url": True}
        declared.update({name: rule.required for name, rule in self.fields.items() if name != "category"})
        if self.categories or self.category_map or "category" in self.fields:
            declared.update({"category": False, "source_category": False})
        return declare_item(self.name, declared)

    # -- links -----------------------------------------------------------------------

    def _links(self, extractor: LinkExtractor, response: TextResponse) -> Iterator[Link]:
        """Links the extractor finds, kept within the site unless allowed_domains says otherwise."""
        domain = registrable_domain(host_of(response.url))
        for link in extractor.extract_links(response):
            if getattr(self, "allowed_domains", None) or registrable_domain(host_of(link.url)) == domain:
                yield link
            else:
                assert self.crawler is not None
                self.crawler.stats.inc_value("scraperq/source/offsite_link")


class NotAPage(ValueError):
    """A listing or item page that is not text (a PDF, an image): there is nothing to select."""


def _page(response: Response) -> TextResponse:
    if not isinstance(response, TextResponse):
        ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1") or "no content type"
        raise NotAPage(f"not an HTML page ({ctype})")
    return response


def _select(selector: Selector, rule: FieldRule) -> SelectorList:
    return selector.css(rule.css) if rule.css is not None else selector.xpath(str(rule.xpath))
