"""Reading one source file: YAML in, a spider class out, or a :class:`SourceError`.

The format is documented in ``scraperq/sources/README.md``. Everything is
checked here, before any crawl: unknown keys, types, URLs, CSS/XPath/JMESPath
selectors, regular expressions, spider arguments and settings. The first
mistake found is reported with the file, the field (``fields.title.css``) and
the reason.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin

import yaml
from scrapy import Spider
from scrapy.linkextractors import LinkExtractor

from scraperq.arguments import ArgumentError
from scraperq.errors import BadInput, ConfigError
from scraperq.fields import FieldRule, RuleError
from scraperq.queue.sitelimits import parse_site_limits
from scraperq.rendering import parse_render_mode
from scraperq.sources.files import SourceError
from scraperq.spiders.arguments import KINDS as KIND_ARGUMENTS
from scraperq.spiders.feed import FeedSpider
from scraperq.spiders.jsonapi import JsonApiSpider
from scraperq.spiders.sitemap import SitemapSpider
from scraperq.spiders.source import SourceSpider
from scraperq.urls import validate_url

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
KINDS: dict[str, type[Spider]] = {
    "html": SourceSpider,
    "feed": FeedSpider,
    "sitemap": SitemapSpider,
    "jsonapi": JsonApiSpider,
}
COMMON_KEYS = {"name", "kind", "description", "start_urls", "politeness", "settings"}
KIND_KEYS = {
    "html": {
        "base_url",
        "categories",
        "category_map",
        "allowed_domains",
        "item_links",
        "pagination",
        "item_nodes",
        "fields",
        "max_pages",
        "render",
        "render_wait_for",
    },
    "feed": {"args"},
    "sitemap": {"args"},
    "jsonapi": {"fields", "args"},
}
LINK_KEYS = ("allow", "deny", "allow_domains", "deny_domains", "restrict_css", "restrict_xpaths")
RULE_KEYS = ("css", "xpath", "path", "many", "join", "link", "required")

# politeness key -> (setting, type check, what the value must be)
POLITENESS = {
    "download_delay": ("DOWNLOAD_DELAY", lambda v: _is_number(v) and v >= 0, "a number of seconds, 0 or more"),
    "concurrency": ("CONCURRENT_REQUESTS_PER_DOMAIN", lambda v: _is_int(v) and v >= 1, "a whole number, 1 or more"),
    "autothrottle": ("AUTOTHROTTLE_ENABLED", lambda v: isinstance(v, bool), "true or false"),
    "user_agent": ("USER_AGENT", lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string"),
    "robots_txt": ("ROBOTSTXT_OBEY", lambda v: isinstance(v, bool), "true or false"),
    "sites": (
        "SCRAPERQ_SITE_LIMITS",
        lambda v: _valid_site_limits(v),
        "a mapping of sites to {delay: seconds, concurrency: n}",
    ),
}
# Settings a source file may change: how it fetches, never where results go or what is safe to fetch.
SETTABLE = {
    "AUTOTHROTTLE_ENABLED": bool,
    "AUTOTHROTTLE_START_DELAY": float,
    "AUTOTHROTTLE_MAX_DELAY": float,
    "AUTOTHROTTLE_TARGET_CONCURRENCY": float,
    "CLOSESPIDER_ERRORCOUNT": int,
    "CLOSESPIDER_ITEMCOUNT": int,
    "CLOSESPIDER_PAGECOUNT": int,
    "CLOSESPIDER_TIMEOUT": float,
    "CONCURRENT_REQUESTS": int,
    "CONCURRENT_REQUESTS_PER_DOMAIN": int,
    "COOKIES_ENABLED": bool,
    "DEFAULT_REQUEST_HEADERS": dict,
    "DEPTH_LIMIT": int,
    "DOWNLOAD_DELAY": float,
    "DOWNLOAD_TIMEOUT": float,
    "HTTPERROR_ALLOWED_CODES": list,
    "METAREFRESH_ENABLED": bool,
    "RANDOMIZE_DOWNLOAD_DELAY": bool,
    "REDIRECT_ENABLED": bool,
    "REDIRECT_MAX_TIMES": int,
    "RETRY_HTTP_CODES": list,
    "ROBOTSTXT_OBEY": bool,
    "SCRAPERQ_RENDER_MIN_TEXT": int,
    "SCRAPERQ_RENDER_WAIT_TIMEOUT": float,
    "SCRAPERQ_RETRY_BACKOFF": float,
    "SCRAPERQ_RETRY_TIMES": int,
    "USER_AGENT": str,
}


def spider_class_from_yaml(text: str, *, file: str, stem: str) -> type[Spider]:
    """The spider class a source file describes; ``file`` names it in errors, ``stem`` is the default name."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SourceError(file, where, f"not valid YAML: {problem}") from None
    return _Reader(file).spider_class(raw, stem)


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, field: str, reason: str) -> SourceError:
        return SourceError(self.file, field, reason)

    # -- the whole file --------------------------------------------------------------

    def spider_class(self, raw: Any, stem: str) -> type[Spider]:
        if not isinstance(raw, dict):
            raise self.fail("(file)", "must be a mapping of keys to values (name:, start_urls:, fields:, ...)")
        kind = raw.get("kind", "html")
        if kind not in KINDS:
            raise self.fail("kind", f"{kind!r} is not a kind of source; use one of {', '.join(KINDS)}")
        known = COMMON_KEYS | KIND_KEYS[kind]
        for key in raw:
            if key not in known:
                raise self.fail(str(key), f"not a key of {kind} sources (known: {', '.join(sorted(known))})")
        name = raw.get("name", stem)
        if not isinstance(name, str) or not NAME.match(name):
            raise self.fail("name", f"{name!r} is not a spider name: letters, digits, _ and -, at most 64")
        attrs: dict[str, Any] = {
            "name": name,
            "__module__": "scraperq.sources",
            "__doc__": self.text(raw, "description") or f"Spider from the source file {self.file}.",
            "source_file": self.file,
            "custom_settings": self.settings(raw),
        }
        base_url = self.url(raw, "base_url") if "base_url" in raw else None
        attrs["start_urls"] = [
            self.url_value(u, f"start_urls[{i}]", base_url) for i, u in enumerate(self.str_list(raw, "start_urls"))
        ]
        getattr(self, f"kind_{kind}")(raw, attrs, base_url)
        class_name = "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", name) if p) + "Spider"
        return type(class_name, (KINDS[kind],), attrs)

    def kind_html(self, raw: dict[str, Any], attrs: dict[str, Any], base_url: str | None) -> None:
        attrs["base_url"] = base_url
        categories = self.mapping(raw, "categories")
        for source_name, page in categories.items():
            self.url_value(page, f"categories.{source_name}", base_url)
        attrs["categories"] = {str(k): str(v) for k, v in categories.items()}
        category_map = self.mapping(raw, "category_map")
        for source_name, ours in category_map.items():
            if not isinstance(ours, str) or not ours.strip():
                raise self.fail(f"category_map.{source_name}", "must be our category name, a non-empty string")
        attrs["category_map"] = {str(k): v for k, v in category_map.items()}
        if not attrs["start_urls"] and not categories:
            raise self.fail("start_urls", "a source needs start_urls or categories to start from")
        if "allowed_domains" in raw:
            attrs["allowed_domains"] = self.str_list(raw, "allowed_domains")
        for key in ("item_links", "pagination"):
            if key in raw:
                attrs[key] = self.link_extractor(raw[key], key)
        if "item_nodes" in raw:
            nodes = self.rule(raw["item_nodes"], "item_nodes", allowed=("css", "xpath"))
            attrs["item_nodes"] = nodes
        if "fields" not in raw:
            raise self.fail("fields", "a source needs fields: what to read from each item")
        attrs["fields"] = self.fields(raw["fields"], allowed=("css", "xpath"))
        if "max_pages" in raw:
            value = raw["max_pages"]
            if not _is_int(value) or value < 1:
                raise self.fail("max_pages", "must be a whole number, 1 or more")
            attrs["max_pages"] = value
        try:
            attrs["render"] = parse_render_mode(raw.get("render", "never"))
        except BadInput:
            raise self.fail("render", "use never, auto or always") from None
        if "render_wait_for" in raw:
            selector = self.text(raw, "render_wait_for")
            try:
                FieldRule(css=selector)
            except RuleError as exc:
                raise self.fail("render_wait_for", exc.reason) from None
            attrs["render_wait_for"] = selector

    def kind_feed(self, raw: dict[str, Any], attrs: dict[str, Any], base_url: str | None) -> None:
        if not attrs["start_urls"]:
            raise self.fail("start_urls", "a feed source needs the feeds' URLs")
        attrs["default_args"] = self.args(raw, "feed")

    def kind_sitemap(self, raw: dict[str, Any], attrs: dict[str, Any], base_url: str | None) -> None:
        if not attrs["start_urls"]:
            raise self.fail("start_urls", "a sitemap source needs the sitemaps' URLs")
        attrs["default_args"] = self.args(raw, "sitemap")

    def kind_jsonapi(self, raw: dict[str, Any], attrs: dict[str, Any], base_url: str | None) -> None:
        if not attrs["start_urls"]:
            raise self.fail("start_urls", "a jsonapi source needs the API's URL (a template with {page} or {cursor})")
        # The key's variable is checked when the spider runs, on the worker that needs it.
        attrs["default_args"] = self.args(raw, "jsonapi")
        if "fields" in raw:
            attrs["fields"] = self.fields(raw["fields"], allowed=("path",))

    # -- parts -----------------------------------------------------------------------

    def text(self, raw: dict[str, Any], key: str) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(key, "must be a string")
        return value

    def str_list(self, raw: dict[str, Any], key: str) -> list[str]:
        value = raw.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(key, "must be a list of non-empty strings")
        return [v.strip() for v in value]

    def mapping(self, raw: dict[str, Any], key: str) -> dict[str, Any]:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "must be a mapping")
        return value

    def url(self, raw: dict[str, Any], key: str) -> str:
        return self.url_value(raw[key], key, None)

    def url_value(self, value: Any, field: str, base_url: str | None) -> str:
        if not isinstance(value, str):
            raise self.fail(field, "must be a URL")
        try:
            validate_url(urljoin(base_url, value) if base_url else value)
        except BadInput as exc:
            hint = "" if base_url else " (a path needs base_url)"
            raise self.fail(field, f"{exc}{hint}") from None
        return value

    def link_extractor(self, value: Any, field: str) -> LinkExtractor:
        if isinstance(value, str):
            value = {"restrict_css": value}
        if not isinstance(value, dict):
            raise self.fail(field, "must be a CSS selector or a mapping of " + ", ".join(LINK_KEYS))
        for key, item in value.items():
            if key not in LINK_KEYS:
                raise self.fail(f"{field}.{key}", f"not a link rule key (known: {', '.join(LINK_KEYS)})")
            items = [item] if isinstance(item, str) else item
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise self.fail(f"{field}.{key}", "must be a string or a list of strings")
            for one in items:
                self._check_link_part(f"{field}.{key}", key, one)
        return LinkExtractor(**value)

    def _check_link_part(self, field: str, key: str, value: str) -> None:
        try:
            if key in ("allow", "deny"):
                re.compile(value)
            elif key == "restrict_css":
                FieldRule(css=value)
            elif key == "restrict_xpaths":
                FieldRule(xpath=value)
        except re.error as exc:
            raise self.fail(field, f"not a regular expression ({exc})") from None
        except RuleError as exc:
            raise self.fail(field, exc.reason) from None

    def fields(self, value: Any, *, allowed: tuple[str, ...]) -> dict[str, FieldRule]:
        if not isinstance(value, dict) or not value:
            raise self.fail("fields", "must be a mapping of field names to selectors")
        rules = {}
        for name, spec in value.items():
            if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
                raise self.fail(f"fields.{name}", "a field name is letters, digits and _, not starting with a digit")
            rules[name] = self.rule(spec, f"fields.{name}", allowed=allowed)
        return rules

    def rule(self, spec: Any, field: str, *, allowed: tuple[str, ...]) -> FieldRule:
        if isinstance(spec, str):
            spec = {allowed[0]: spec}
        if not isinstance(spec, dict):
            raise self.fail(field, f"must be a selector string or a mapping with {' or '.join(allowed)}")
        for key in spec:
            if key not in RULE_KEYS:
                raise self.fail(f"{field}.{key}", f"not a field rule key (known: {', '.join(RULE_KEYS)})")
            if key in ("css", "xpath", "path") and key not in allowed:
                raise self.fail(f"{field}.{key}", f"this source reads fields with {' or '.join(allowed)}")
        for key in ("many", "link", "required"):
            if key in spec and not isinstance(spec[key], bool):
                raise self.fail(f"{field}.{key}", "must be true or false")
        for key in ("css", "xpath", "path", "join"):
            if key in spec and not isinstance(spec[key], str):
                raise self.fail(f"{field}.{key}", "must be a string")
        try:
            return FieldRule(**spec)
        except RuleError as exc:
            part = f"{field}.{exc.part}" if exc.part in spec else field
            raise self.fail(part, exc.reason) from None

    def args(self, raw: dict[str, Any], kind: str) -> dict[str, str]:
        """The file's ``args``, checked as ``-a`` arguments of its kind (scraperq/spiders/arguments.py)."""
        declared = KIND_ARGUMENTS[kind]
        names = declared.names
        args = self.mapping(raw, "args")
        for key, value in args.items():
            if key not in names:
                raise self.fail(f"args.{key}", f"not an argument of this kind (known: {', '.join(names)})")
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise self.fail(f"args.{key}", "must be a string or a number")
        texts = {k: str(v) for k, v in args.items()}
        try:
            declared.parse(texts, spider=kind)
        except ArgumentError as exc:
            raise self.fail(f"args.{exc.name}", exc.reason) from None
        return texts

    def settings(self, raw: dict[str, Any]) -> dict[str, Any]:
        chosen: dict[str, Any] = {}
        politeness = self.mapping(raw, "politeness")
        for key, value in politeness.items():
            if key not in POLITENESS:
                raise self.fail(f"politeness.{key}", f"not a politeness key (known: {', '.join(POLITENESS)})")
            setting, valid, what = POLITENESS[key]
            if not valid(value):
                raise self.fail(f"politeness.{key}", f"must be {what}")
            chosen[setting] = value
        for key, value in self.mapping(raw, "settings").items():
            kind = SETTABLE.get(key)
            if kind is None:
                raise self.fail(f"settings.{key}", "not a setting a source file may change")
            if not _has_type(value, kind):
                raise self.fail(f"settings.{key}", f"must be {_TYPE_WORDS[kind]}")
            chosen[key] = value
        return chosen


def _valid_site_limits(value: Any) -> bool:
    try:
        parse_site_limits(value)
    except ConfigError:
        return False
    return isinstance(value, dict) and bool(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_TYPE_WORDS = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: "a string",
    dict: "a mapping",
    list: "a list",
}


def _has_type(value: Any, kind: type) -> bool:
    if kind is float:
        return _is_number(value)
    if kind is int:
        return _is_int(value)
    return isinstance(value, kind)
