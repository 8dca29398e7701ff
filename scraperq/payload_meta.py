"""What a start payload's ``meta`` may hold: an allowlist of keys, each with a type and a range.

Anyone who can push to ``NAME:start_urls`` writes these values into a request's
meta, where Scrapy, its middlewares and the spiders read them. Only keys listed
here are accepted, each checked against its rule; a key not listed (``proxy``,
``download_slot``, ``dont_obey_robotstxt``, scrapy-playwright's page options,
a spider's own bookkeeping...) sends the payload to ``NAME:dead``. README.md
lists the same keys ("Payload meta").

No Scrapy or Twisted here: the scheduler daemon imports this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scraperq.errors import BadInput

# Bounds of the ranged keys.
MAX_DEPTH = 100
MIN_DOWNLOAD_TIMEOUT = 1.0
MAX_DOWNLOAD_TIMEOUT = 180.0  # Scrapy's own default; a payload may shorten it, never lengthen it
MAX_STATUS_CODES = 100
MAX_TEXT = 500  # characters of a text value (a CSS selector, a category name)
MAX_LISTING_PAGE = 100_000
RENDER_CHOICES = ("never", "auto", "always")
SOURCE_PAGE_CHOICES = ("item", "listing")


@dataclass(frozen=True)
class MetaRule:
    key: str
    check: Callable[[Any], str | None]  # a problem with the value, in words, or None
    meaning: str


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _int_range(low: int, high: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if _is_int(value) and low <= value <= high else f"must be a whole number from {low} to {high}"

    return check


def _timeout(value: Any) -> str | None:
    ok = (
        (_is_int(value) or isinstance(value, float))
        and math.isfinite(value)
        and MIN_DOWNLOAD_TIMEOUT <= value <= MAX_DOWNLOAD_TIMEOUT
    )
    return None if ok else f"must be a number of seconds from {MIN_DOWNLOAD_TIMEOUT:g} to {MAX_DOWNLOAD_TIMEOUT:g}"


def _status_list(value: Any) -> str | None:
    if (
        isinstance(value, list)
        and len(value) <= MAX_STATUS_CODES
        and all(_is_int(code) and 100 <= code <= 599 for code in value)
    ):
        return None
    return f"must be a list of at most {MAX_STATUS_CODES} HTTP status codes (100 to 599)"


def _text(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= MAX_TEXT and clean_text(value):
        return None
    return f"must be text of 1 to {MAX_TEXT} characters without control characters"


def _choice(*choices: Any) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        # bool is an int: compare types too, so that 1 is not taken for true
        if any(type(value) is type(c) and value == c for c in choices):
            return None
        return "must be one of " + ", ".join(_json_word(c) for c in choices)

    return check


def _json_word(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def clean_text(value: str) -> bool:
    """No control characters and no lone surrogates (neither PostgreSQL's jsonb nor UTF-8 can hold them)."""
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in value):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


RULES: tuple[MetaRule, ...] = (
    MetaRule("depth", _int_range(0, MAX_DEPTH), "depth the start page counts as; links deeper than the limit stop"),
    MetaRule("download_timeout", _timeout, "seconds before the download is abandoned (shorter than the setting only)"),
    MetaRule("dont_redirect", _boolean, "keep a redirect response instead of following it"),
    MetaRule("dont_retry", _boolean, "no retries for this request"),
    MetaRule("dont_cache", _boolean, "bypass Scrapy's HTTP cache"),
    MetaRule("handle_httpstatus_list", _status_list, "HTTP error statuses handed to the spider as pages"),
    MetaRule("handle_httpstatus_all", _boolean, "every HTTP status handed to the spider as a page"),
    MetaRule("playwright", _boolean, "render the page in the browser (its guard applies)"),
    MetaRule("render", _choice(*RENDER_CHOICES, True, False), "never, auto or always render (or true/false)"),
    MetaRule("render_wait_for", _text, "CSS selector a rendered page waits for"),
    MetaRule("source_page", _choice(*SOURCE_PAGE_CHOICES), "per-source spiders: item makes the start URL an item page"),
    MetaRule("source_category", _text, "per-source spiders: the source's category of the start page"),
    MetaRule("listing_page", _int_range(1, MAX_LISTING_PAGE), "per-source spiders: the listing page number"),
)
ALLOWED = {rule.key: rule for rule in RULES}
# Set by scraperq itself on every start request: a payload that sets them is refused with this reason.
RESERVED = ("task_id", "task_root")


def check_meta(meta: Any) -> dict[str, Any]:
    """The payload's meta if every key is allowed and every value fits its rule; BadInput otherwise."""
    if not isinstance(meta, dict):
        raise BadInput("payload meta is not a JSON object")
    for key in sorted(meta):
        if key in RESERVED:
            raise BadInput(f"payload meta may not set {key!r} (scraperq sets it)")
        rule = ALLOWED.get(key)
        if rule is None:
            shown = key if len(key) <= 60 else key[:60] + "..."
            raise BadInput(f"payload meta key {shown!r} is not allowed: use {', '.join(sorted(ALLOWED))}")
        problem = rule.check(meta[key])
        if problem is not None:
            raise BadInput(f"payload meta {key!r} {problem}")
    return meta
