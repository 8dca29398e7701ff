"""Field rules: how a per-source spider reads one field from a page or a JSON record.

A rule names exactly one way to select: ``css`` (Parsel CSS, ``::text`` and
``::attr(name)`` included), ``xpath``, or ``path`` (JMESPath, for JSON records).
Selecting an element rather than text gives the element's text. Text is
stripped and runs of whitespace become one space; empty values are dropped.

* ``many``: keep every value as a list (default: the first value).
* ``join``: with ``many``, join the values into one string with this separator.
* ``link``: resolve the values against the page URL (fields named ``url`` always are).
* ``required``: the item is invalid without this field (used when a source
  declares its item from its rules; see :func:`scraperq.items.declare_item`).

Rules are checked when they are made, so a bad selector in a source file is
refused when the spiders load, not halfway through a crawl.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import jmespath
from cssselect import SelectorError
from cssselect.xpath import ExpressionError
from jmespath.exceptions import JMESPathError
from lxml import etree
from parsel import Selector, SelectorList
from parsel.csstranslator import HTMLTranslator

from scraperq.errors import first_line

_WHITESPACE = re.compile(r"\s+")
_CSS = HTMLTranslator()
# Parsel registers these prefixes for XPath; compile with them so `re:test()` passes the check.
_XPATH_NAMESPACES = {"re": "http://exslt.org/regular-expressions", "set": "http://exslt.org/sets"}


class RuleError(ValueError):
    """A rule that cannot work; the message says which part and why."""

    def __init__(self, part: str, reason: str) -> None:
        super().__init__(f"{part}: {reason}")
        self.part = part
        self.reason = reason


def check_css(expression: str) -> None:
    try:
        _CSS.css_to_xpath(expression)
    except (SelectorError, ExpressionError) as exc:
        raise RuleError("css", f"not a valid CSS selector ({first_line(exc)})") from None


def check_xpath(expression: str) -> None:
    try:
        etree.XPath(expression, namespaces=_XPATH_NAMESPACES)
    except etree.XPathSyntaxError as exc:
        raise RuleError("xpath", f"not a valid XPath expression ({first_line(exc)})") from None


def check_path(expression: str) -> None:
    try:
        jmespath.compile(expression)
    except JMESPathError as exc:
        raise RuleError("path", f"not a valid JMESPath expression ({first_line(exc)})") from None


@dataclass(frozen=True)
class FieldRule:
    css: str | None = None
    xpath: str | None = None
    path: str | None = None
    many: bool = False
    join: str | None = None
    link: bool = False
    required: bool = False

    def __post_init__(self) -> None:
        given = [k for k in ("css", "xpath", "path") if getattr(self, k) is not None]
        if len(given) != 1:
            raise RuleError("rule", "give exactly one of css, xpath or path")
        if self.join is not None and not self.many:
            raise RuleError("join", "only makes sense with many: true")
        if self.css is not None:
            check_css(self.css)
        elif self.xpath is not None:
            check_xpath(self.xpath)
        else:
            check_path(str(self.path))

    @property
    def on_json(self) -> bool:
        return self.path is not None

    def extract(self, source: Selector | SelectorList | Mapping[str, Any] | list[Any], base_url: str = "") -> Any:
        """The field's value from a page selector (css/xpath) or a JSON value (path); None when absent."""
        if self.path is not None:
            values = _json_values(jmespath.search(self.path, source))
        else:
            assert isinstance(source, (Selector, SelectorList))
            nodes = source.css(self.css) if self.css is not None else source.xpath(str(self.xpath))
            values = [v for v in (_node_text(n) for n in nodes) if v not in (None, "")]
        if self.link and base_url:
            values = [urljoin(base_url, v) if isinstance(v, str) else v for v in values]
        if self.many:
            if self.join is not None:
                return self.join.join(str(v) for v in values) if values else None
            return values or None
        return values[0] if values else None


def css(expression: str, **options: Any) -> FieldRule:
    return FieldRule(css=expression, **options)


def xpath(expression: str, **options: Any) -> FieldRule:
    return FieldRule(xpath=expression, **options)


def path(expression: str, **options: Any) -> FieldRule:
    return FieldRule(path=expression, **options)


def clean_text(value: str) -> str:
    return _WHITESPACE.sub(" ", value).strip()


def _node_text(node: Selector) -> Any:
    if isinstance(node.root, str):  # ::text, ::attr(), text() and @attr results
        return clean_text(node.root)
    if isinstance(node.root, (bool, int, float)):  # XPath functions such as count()
        return node.root
    return clean_text(" ".join(node.xpath(".//text()[not(ancestor::script or ancestor::style)]").getall()))


def _json_values(found: Any) -> list[Any]:
    if found is None:
        return []
    items = found if isinstance(found, list) else [found]
    return [clean_text(v) if isinstance(v, str) else v for v in items if v is not None and v != ""]
