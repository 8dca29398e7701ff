"""What the generic spider extracts from a response.

:func:`extract_page` turns an HTML response into plain JSON data: final URL,
status, title, meta description, canonical URL, language, headings, main text,
article metadata (headline, dates, authors, site name, image: see
:mod:`scraperq.article`), outgoing links, OpenGraph fields and JSON-LD blocks.
:func:`describe_file` gives the little that can be said about anything else
(PDF, image, JSON): URL, status, content type and size. Both are pure functions
of the response, so they are tested on saved pages without a crawl.

Everything is read from the lxml tree parsel already built for the response;
nothing here modifies it (the main text is taken from a copy, :mod:`scraperq.maintext`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urldefrag, urljoin

from lxml import etree
from scrapy.http import Response, TextResponse
from scrapy.utils.response import get_base_url
from w3lib.html import strip_html5_whitespace
from w3lib.url import safe_url_string

from scraperq.article import MetaTags, article_metadata
from scraperq.language import detect_language
from scraperq.maintext import extract_main_text, has_control_characters

logger = logging.getLogger(__name__)

# Never part of a page's main text.
BOILERPLATE_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "header",
        "footer",
        "aside",
        "form",
        "button",
        "select",
        "textarea",
        "option",
        "iframe",
        "svg",
        "canvas",
        "object",
        "embed",
        "head",
    }
)
# ARIA landmarks that say the same as the tags above.
BOILERPLATE_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})
# Elements that start a new line of text; inline elements run on.
BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "blockquote",
        "br",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "li",
        "main",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tr",
        "ul",
    }
)
CELL_TAGS = frozenset({"td", "th"})
HEADING_LEVELS = {f"h{n}": n for n in range(1, 7)}
JSON_LD_TYPE = "application/ld+json"
LINE_BREAK = "\n"  # only block edges break lines; newlines in the source are spaces
_WHITESPACE = re.compile(r"\s+")

_HEADINGS = etree.XPath("//*[self::h1 or self::h2 or self::h3 or self::h4 or self::h5 or self::h6]")
_MAIN = etree.XPath("(//main | //*[@role='main'])[1]")
_ARTICLES = etree.XPath("//article[not(ancestor::article)]")
# A <form> that holds the page's main content is a page wrapper (ASP.NET WebForms
# put the whole body in one), not a form to drop.
_WRAPS_CONTENT = etree.XPath("boolean(.//main | .//article | .//h1 | .//*[@role='main'])")


def extract_page(response: TextResponse, *, text_mode: str = "main") -> dict[str, Any]:
    """Everything the generic spider stores for an HTML page.

    ``text_mode`` is one of :data:`scraperq.maintext.TEXT_MODES`; with ``none``
    the ``text`` field is None and the page's language is not guessed from it.
    """
    root = response.selector.root
    base = get_base_url(response)
    meta = MetaTags.of(root)
    title = _title(root)
    heads = headings(root)
    blocks = json_ld(root)
    text = None
    if text_mode != "none":
        text = extract_main_text(root, mode=text_mode, has_control_chars=has_control_characters(response.text))
        if text is None:  # a page of a few words: what it shows is all it says
            text = visible_text(root)
    article = article_metadata(
        root,
        url=response.url,
        base=base,
        meta=meta,
        json_ld=blocks,
        title=title,
        h1s=[h["text"] for h in heads if h["level"] == 1],
    )
    language = _declared_language(root, response, meta, blocks) or detect_language(text)
    return {
        **describe_file(response),
        "title": title,
        "description": meta.values.get("description"),
        "canonical": _canonical(root, base),
        "language": language,
        **article,
        "headings": heads,
        "text": text,
        "links": links(root, base),
        "opengraph": opengraph(root, base),
        "json_ld": blocks,
    }


def describe_file(response: Response) -> dict[str, Any]:
    """What is known about any response, HTML or not."""
    ctype = response.headers.get(b"Content-Type", b"").decode("latin-1").strip()
    return {
        "url": response.url,
        "status": response.status,
        "content_type": ctype or None,
        "size": len(response.body),
    }


# -- text --------------------------------------------------------------------------------


def normalize_space(text: str) -> str:
    """Runs of any whitespace (non-breaking spaces included) become one space."""
    return " ".join(text.split())


def visible_text(root: Any) -> str:
    """The page's readable text, one line per block, without navigation and other boilerplate.

    Taken from ``<main>``, else the outermost ``<article>``s, else ``<body>``: the
    fallback for pages too short for :func:`scraperq.maintext.extract_main_text`.
    """
    body = root.find("body")
    whole = [body if body is not None else root]
    preferred = content_roots(root)
    text = _lines_of(preferred)
    # An empty <main> (a shell filled in by scripts) says nothing: fall back to the whole body.
    return text if text or preferred == whole else _lines_of(whole)


def content_roots(root: Any) -> list[Any]:
    """Where the main content lives: <main> or role=main, else the outermost <article>s, else <body>."""
    found = _MAIN(root)
    if found:
        return [found[0]]
    articles = _ARTICLES(root)
    if articles:
        return list(articles)
    body = root.find("body")
    return [body if body is not None else root]


def _lines_of(elements: list[Any]) -> str:
    chunks: list[str] = []
    for element in elements:
        chunks.append(LINE_BREAK)
        chunks.extend(_text_chunks(element))
    lines = (normalize_space(line) for line in "".join(chunks).split(LINE_BREAK))
    return "\n".join(line for line in lines if line)


def is_boilerplate(element: Any) -> bool:
    tag = element.tag
    if not isinstance(tag, str):  # comments and processing instructions
        return True
    tag = tag.lower()
    if tag in BOILERPLATE_TAGS:
        return not (tag == "form" and _WRAPS_CONTENT(element))
    if element.get("hidden") is not None or element.get("aria-hidden", "").strip().lower() == "true":
        return True
    return element.get("role", "").strip().lower() in BOILERPLATE_ROLES


def _text_chunks(top: Any) -> Iterator[str]:
    """Text of ``top`` in document order, LINE_BREAK at block edges; boilerplate skipped.

    An explicit stack rather than recursion: real pages nest deeper than
    Python's recursion limit allows. Tails (text after an element's end tag)
    belong to the parent, so a skipped element's tail is still kept.
    """
    stack: list[tuple[Any, bool]] = [(top, True)]
    while stack:
        element, entering = stack.pop()
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if entering:
            if element is not top and is_boilerplate(element):
                if element.tail:
                    yield _WHITESPACE.sub(" ", element.tail)
                continue
            if tag in BLOCK_TAGS:
                yield LINE_BREAK
            elif tag in CELL_TAGS:
                yield " "
            if element.text:
                yield _WHITESPACE.sub(" ", element.text)
            stack.append((element, False))
            stack.extend((child, True) for child in reversed(element))
        else:
            if tag in BLOCK_TAGS:
                yield LINE_BREAK
            elif tag in CELL_TAGS:
                yield " "
            if element is not top and element.tail:
                yield _WHITESPACE.sub(" ", element.tail)


def element_text(element: Any) -> str:
    return normalize_space("".join(_text_chunks(element)))


def headings(root: Any) -> list[dict[str, Any]]:
    """h1-h6 in document order, as ``{"level": 2, "text": "..."}``; empty ones left out."""
    out = []
    for element in _HEADINGS(root):
        text = element_text(element)
        if text:
            out.append({"level": HEADING_LEVELS[element.tag.lower()], "text": text})
    return out


def _title(root: Any) -> str | None:
    # The document's <title>, not one inside inline SVG.
    for path in ("//head/title", "//title[not(ancestor::svg)]"):
        found = root.xpath(path)
        if found:
            return normalize_space("".join(found[0].itertext())) or None
    return None


# -- metadata ----------------------------------------------------------------------------


def _rel_tokens(element: Any) -> set[str]:
    return set((element.get("rel") or "").lower().split())


def _canonical(root: Any, base: str) -> str | None:
    for element in root.iter("link"):
        href = element.get("href")
        if href and "canonical" in _rel_tokens(element):
            return absolute_url(href, base)
    return None


def _declared_language(root: Any, response: TextResponse, meta: MetaTags, blocks: list[Any]) -> str | None:
    """<html lang>, else the Content-Language header, else its <meta http-equiv> twin,
    else ``og:locale`` (``de_DE`` -> ``de-DE``), else JSON-LD ``inLanguage``."""
    for attr in ("lang", "{http://www.w3.org/XML/1998/namespace}lang", "xml:lang"):
        value = (root.get(attr) or "").strip()
        if value:
            return value
    header = response.headers.get(b"Content-Language", b"").decode("latin-1")
    for candidate in (header, meta.values.get("content-language", "")):
        first = candidate.split(",")[0].strip()  # "en-GB, fr": the first is the main one
        if first:
            return first
    locale = meta.values.get("og:locale", "").strip()
    if re.fullmatch(r"[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})?", locale):
        return locale.replace("_", "-")
    for block in blocks:
        found = block.get("inLanguage") if isinstance(block, dict) else None
        if isinstance(found, str) and found.strip():
            return found.strip()
    return None


# OpenGraph properties whose values are URLs (og:image, og:image:url, og:video:secure_url, ...).
_OG_URL_SUFFIXES = ("og:url", "og:image", "og:video", "og:audio", ":url", ":secure_url")


def opengraph(root: Any, base: str) -> dict[str, str]:
    """``og:*`` properties by name. The first of a repeated property wins (the OpenGraph rule
    for conflicts); URL-valued ones are made absolute."""
    out: dict[str, str] = {}
    for element in root.iter("meta"):
        # The protocol says property=, but name= is common in the wild.
        key = (element.get("property") or element.get("name") or "").strip().lower()
        content = element.get("content")
        if not key.startswith("og:") or content is None or key in out:
            continue
        value = content.strip()
        if value and key.endswith(_OG_URL_SUFFIXES):
            value = urljoin(base, value)
        out[key] = value
    return out


def json_ld(root: Any) -> list[Any]:
    """Each ``<script type="application/ld+json">`` block, parsed; a block that is not JSON is skipped."""
    out = []
    for element in root.iter("script"):
        kind = (element.get("type") or "").split(";")[0].strip().lower()
        if kind != JSON_LD_TYPE:
            continue
        text = _unwrap_script(element.text or "")
        if not text:
            continue
        try:
            # strict=False: raw newlines and tabs inside strings are common on real pages.
            out.append(json.loads(text, strict=False))
        except ValueError as exc:
            logger.debug("Skipping a JSON-LD block that is not valid JSON: %s", exc)
    return out


def _unwrap_script(text: str) -> str:
    """Strip the HTML-comment and CDATA wrappers old pages put around script bodies."""
    text = text.strip()
    for opening, closing in (("<!--", "-->"), ("//<![CDATA[", "//]]>"), ("<![CDATA[", "]]>")):
        if text.startswith(opening) and text.endswith(closing):
            text = text[len(opening) : -len(closing)].strip()
    return text


# -- links -------------------------------------------------------------------------------


def absolute_url(href: str, base: str) -> str | None:
    """``href`` resolved against ``base``, fragment removed; None unless http(s)."""
    href = strip_html5_whitespace(href)
    if not href:
        return None
    try:
        url = safe_url_string(urldefrag(urljoin(base, href))[0])
    except ValueError:  # e.g. an invalid IPv6 literal or port
        return None
    if not url.lower().startswith(("http://", "https://")):
        return None
    return url


def links(root: Any, base: str) -> list[str]:
    """Absolute http(s) targets of <a href> and <area href>, in page order, each once."""
    hrefs = dict.fromkeys(str(h) for h in root.xpath("//a/@href | //area/@href"))  # menus repeat links
    return unique(absolute_url(href, base) for href in hrefs)


def unique(urls: Iterable[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for url in urls:
        if url is not None:
            seen.setdefault(url)
    return list(seen)
