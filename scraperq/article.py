"""Article metadata of an HTML page: headline, dates, authors, site name, main image, sections, tags.

Read from what the page declares for machines, in this order of trust:

1. JSON-LD (schema.org ``Article`` and its kinds, ``BlogPosting``, ``WebPage``...);
2. OpenGraph and ``article:*`` properties (``og:title``, ``article:published_time``);
3. other ``<meta>`` conventions (Dublin Core ``dc.date``/``dcterms.*``, ``author``,
   ``parsely-*``, ``sailthru.*``, ``twitter:*``) and ``itemprop`` microdata;
4. the document itself: ``<title>``, ``<h1>``, ``<time datetime>``, ``rel=author`` links;
5. htmldate's search of the page (dates written in the URL or the text), for the
   publication date only, when nothing above gives one.

Dates come out as ISO 8601: with time and offset when the page gives them
(``2026-03-02T08:00:00+01:00``), a bare date otherwise (``2026-03-02``). Dates
before 1990 or more than a day in the future are ignored as placeholders.

:func:`article_metadata` is a pure function of the parsed page, so it is tested
on saved pages without a crawl.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from scraperq.scope import registrable_domain

# schema.org types whose node describes the page's own story, most specific first.
ARTICLE_TYPES = frozenset(
    {
        "Article",
        "NewsArticle",
        "ReportageNewsArticle",
        "AnalysisNewsArticle",
        "OpinionNewsArticle",
        "ReviewNewsArticle",
        "BackgroundNewsArticle",
        "AskPublicNewsArticle",
        "LiveBlogPosting",
        "BlogPosting",
        "SocialMediaPosting",
        "DiscussionForumPosting",
        "TechArticle",
        "ScholarlyArticle",
        "MedicalScholarlyArticle",
        "Report",
        "SatiricalArticle",
        "AdvertiserContentArticle",
        "Recipe",
        "Review",
        "HowTo",
        "PressRelease",
    }
)
PAGE_TYPES = frozenset({"WebPage", "ItemPage", "AboutPage", "FAQPage", "QAPage", "CollectionPage", "ProfilePage"})
SITE_TYPES = frozenset({"WebSite", "Organization", "NewsMediaOrganization", "Corporation", "NGO"})

# Meta names and properties, in the order they are trusted.
PUBLISHED_META = (
    "article:published_time",
    "og:published_time",
    "article:published",
    "datepublished",
    "date",
    "pubdate",
    "publishdate",
    "publish-date",
    "publish_date",
    "published_time",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date",
    "dcterms.date",
    "dc.date.created",
    "dcterms.created",
    "citation_publication_date",
    "citation_date",
    "parsely-pub-date",
    "sailthru.date",
    "originalpublicationdate",
    "article.published",
    "displaydate",
)
MODIFIED_META = (
    "article:modified_time",
    "og:updated_time",
    "article:modified",
    "datemodified",
    "dc.date.modified",
    "dcterms.modified",
    "last-modified",
    "lastmod",
    "article.updated",
)
AUTHOR_META = (
    "author",
    "article:author",
    "dc.creator",
    "dcterms.creator",
    "parsely-author",
    "sailthru.author",
    "byl",
    "citation_author",
    "book:author",
)
SITE_NAME_META = ("og:site_name", "application-name", "apple-mobile-web-app-title", "publisher", "dc.publisher")
IMAGE_META = ("og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src", "image")
TITLE_META = ("og:title", "twitter:title", "dc.title", "title", "headline")
SECTION_META = ("article:section", "section", "parsely-section")
TAG_META = ("article:tag", "news_keywords", "parsely-tags", "keywords")

EARLIEST = date(1990, 1, 1)
# Between a headline and the site's name: "Story - Site", "Site | Story", "Story » Site".
_TITLE_SEPARATOR = re.compile(r"\s+(?:[|ǀ\-–—·•»«~/:]|::)\s+")
_BYLINE_PREFIX = re.compile(
    r"^(?:(?:view |show )?(?:all )?(?:posts|articles|beiträge|artikel) (?:by|von)|zeige alle beiträge von|mehr von"
    r"|written by|geschrieben von|by|von|par|por|di|door|av|af|text|texte|autor|autorin|author)\s*:?\s+",
    re.IGNORECASE,
)
# Placeholders some publishing systems put where a name belongs.
_NOT_NAMES = frozenset({"noauthor", "admin", "administrator", "unknown", "anonymous", "author", "user"})
_NAME_SPLIT = re.compile(r"\s*;\s*|\s+(?:and|und|et|y|e|&)\s+")
_ALNUM = re.compile(r"[\W_]+")


@dataclass
class MetaTags:
    """``<meta>`` values by lower-cased key; the first of a repeated key wins, repeats are kept in ``lists``."""

    values: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, root: Any) -> MetaTags:
        tags = cls()
        for element in root.iter("meta"):
            content = element.get("content")
            if content is None:
                continue
            value = " ".join(content.split())
            if not value:
                continue
            for attr in ("name", "property", "itemprop", "http-equiv"):
                key = (element.get(attr) or "").strip().lower()
                if key:
                    tags.values.setdefault(key, value)
                    tags.lists.setdefault(key, []).append(value)
        return tags

    def first(self, keys: tuple[str, ...]) -> Iterator[str]:
        for key in keys:
            value = self.values.get(key)
            if value:
                yield value


def article_metadata(
    root: Any,
    *,
    url: str,
    base: str,
    meta: MetaTags,
    json_ld: list[Any],
    title: str | None,
    h1s: list[str],
    now: datetime | None = None,
) -> dict[str, Any]:
    """``headline``, ``published``, ``modified``, ``authors``, ``site_name``, ``image``,
    ``sections`` and ``tags`` of a page (None or an empty list where it says nothing)."""
    nodes = list(_json_ld_nodes(json_ld))
    story = _story_node(nodes)
    latest = (now or datetime.now(UTC)).date() + timedelta(days=1)
    site_name = _site_name(story, nodes, meta)
    published = _first_date(_published_candidates(root, story, meta), latest)
    modified = _first_date(_modified_candidates(root, story, meta), latest)
    if published is None:
        published = _searched_date(root, url, latest)
    return {
        "headline": _headline(story, meta, title, h1s, site_name, url),
        "published": published,
        "modified": modified,
        "authors": _authors(root, story, meta, _site_keys(site_name, url)),
        "site_name": site_name,
        "image": _image(story, meta, base),
        "sections": _strings(story.get("articleSection") if story else None)
        or [v for key in SECTION_META for v in meta.lists.get(key, ())][:5],
        "tags": _tags(story, meta),
    }


# -- JSON-LD -----------------------------------------------------------------------------


def _json_ld_nodes(blocks: list[Any]) -> Iterator[dict[str, Any]]:
    """Every object of the JSON-LD blocks, ``@graph`` members included, outermost first."""
    todo = list(reversed(blocks))
    while todo:
        value = todo.pop()
        if isinstance(value, list):
            todo.extend(reversed(value))
        elif isinstance(value, dict):
            yield value
            graph = value.get("@graph")
            if isinstance(graph, list):
                todo.extend(reversed(graph))


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k.rsplit("/", 1)[-1] for k in kinds if isinstance(k, str)}


def _story_node(nodes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The node describing the page's own story: an Article kind, else a WebPage."""
    for wanted in (ARTICLE_TYPES, PAGE_TYPES):
        for node in nodes:
            if _types(node) & wanted:
                return node
    return None


def _names(value: Any) -> list[str]:
    """Names of a schema.org value: text, a Thing with ``name``, or a list of them."""
    out: list[str] = []
    for entry in value if isinstance(value, list) else [value]:
        if isinstance(entry, dict):
            entry = entry.get("name")
            if isinstance(entry, list):
                entry = entry[0] if entry else None
        if isinstance(entry, str) and entry.strip():
            out.append(" ".join(entry.split()))
    return out


def _strings(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [" ".join(v.split()) for v in values if isinstance(v, str) and v.strip()]


# -- headline ----------------------------------------------------------------------------


def _headline(
    story: dict[str, Any] | None, meta: MetaTags, title: str | None, h1s: list[str], site_name: str | None, url: str
) -> str | None:
    sites = _site_keys(site_name, url)
    candidates = _names(story.get("headline")) + _names(story.get("name")) if story else []
    candidates += list(meta.first(TITLE_META))
    if title:
        candidates.append(title)
    for candidate in candidates:
        headline = strip_site_name(candidate, sites, h1s)
        if headline:
            return headline
    return h1s[0] if h1s else None


def _site_keys(site_name: str | None, url: str) -> set[str]:
    """Spellings of the site's name as titles carry it, reduced to letters and digits."""
    keys = set()
    if site_name:
        keys.add(_key(site_name))
    host = (urlsplit(url).hostname or "").lower()
    if host:
        domain = registrable_domain(host)
        keys.add(_key(domain))  # "helge.at" -> "helgeat"
        keys.add(_key(domain.split(".", 1)[0]))  # "bewusster-leben.de" -> "bewussterleben"
        keys.add(_key(host.removeprefix("www.")))
    keys.discard("")
    return keys


def _key(text: str) -> str:
    return _ALNUM.sub("", text.casefold())


def strip_site_name(title: str, site_keys: set[str], h1s: list[str]) -> str | None:
    """``title`` without the site's name before or after it ("Story - Site" -> "Story").

    None when the title is nothing but the site's name. A part of the title that is
    also the page's ``<h1>`` is taken as the headline.
    """
    if "&" in title:  # escaped twice by the page ("&amp;quot;"), so still escaped after parsing
        title = html.unescape(title)
    title = " ".join(title.split()).strip(" -|–—:")
    if not title:
        return None
    h1_keys = {_key(h) for h in h1s}
    title_key = _key(title)
    if title_key in h1_keys:
        return title
    # "Kicker: Headline", "Headline - Site": the page's own <h1> inside the title is the headline.
    for h1 in h1s:
        if len(h1) >= 20 and len(h1.split()) >= 3 and _key(h1) in title_key:
            return h1
    parts = [p.strip() for p in _TITLE_SEPARATOR.split(title) if p.strip()]
    if len(parts) > 1:
        for part in parts:
            if _key(part) in h1_keys:
                return part
        while len(parts) > 1 and _names_site(parts[-1], site_keys):
            parts.pop()
        while len(parts) > 1 and _names_site(parts[0], site_keys):
            parts.pop(0)
        if len(parts) == 1:
            return parts[0]
        return _join_like(title, parts)
    return None if _names_site(title, site_keys) and not h1_keys else title


def _names_site(part: str, site_keys: set[str]) -> bool:
    key = _key(part)
    if not key:
        return True
    if key in site_keys:
        return True
    # "Rezept von Backen.de", "Zobacz na przepisy.pl": a short part that mentions the site.
    return len(part.split()) <= 5 and any(len(site) >= 4 and site in key for site in site_keys)


def _join_like(title: str, parts: list[str]) -> str:
    """The span of ``title`` from the first kept part to the last, separators as written."""
    start = title.find(parts[0])
    end = title.rfind(parts[-1])
    if start < 0 or end < start:
        return " - ".join(parts)
    return title[start : end + len(parts[-1])]


# -- dates -------------------------------------------------------------------------------


def _published_candidates(root: Any, story: dict[str, Any] | None, meta: MetaTags) -> Iterator[Any]:
    if story:
        yield story.get("datePublished")
        yield story.get("dateCreated")
    yield from meta.first(PUBLISHED_META)
    for element in root.xpath("//*[@itemprop='datePublished']"):
        yield element.get("datetime") or element.get("content") or element.text_content()
    for element in root.xpath("//time[@pubdate or @data-published]"):
        yield element.get("datetime") or element.get("data-published")
    # The first <time datetime> of the story itself.
    for path in ("//article//time[@datetime]", "//main//time[@datetime]"):
        for element in root.xpath(path)[:1]:
            yield element.get("datetime")


def _modified_candidates(root: Any, story: dict[str, Any] | None, meta: MetaTags) -> Iterator[Any]:
    if story:
        yield story.get("dateModified")
    yield from meta.first(MODIFIED_META)
    for element in root.xpath("//*[@itemprop='dateModified']"):
        yield element.get("datetime") or element.get("content") or element.text_content()


def _first_date(candidates: Iterator[Any], latest: date) -> str | None:
    for raw in candidates:
        if isinstance(raw, list):
            raw = raw[0] if raw else None
        if isinstance(raw, str):
            parsed = parse_date(raw, latest=latest)
            if parsed:
                return parsed
    return None


def parse_date(raw: str, *, latest: date | None = None) -> str | None:
    """ISO 8601 text for an ISO 8601, RFC 822 or compact (``20260302``) date; None if unreadable or implausible."""
    text = raw.strip()
    if not text:
        return None
    parsed: datetime | date | None = None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            parsed = _loose_iso(text)
    if parsed is None:
        return None
    day = parsed.date() if isinstance(parsed, datetime) else parsed
    if day < EARLIEST or day > (latest or datetime.now(UTC).date() + timedelta(days=1)):
        return None
    if isinstance(parsed, datetime) and (parsed.hour, parsed.minute, parsed.second) == (0, 0, 0) and len(text) <= 10:
        return day.isoformat()
    return parsed.isoformat()


_LOOSE = re.compile(r"^(\d{4})[-/.]?(\d{2})[-/.]?(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?")


def _loose_iso(text: str) -> datetime | date | None:
    """``2026/03/02``, ``20260302``, ``2026-03-02 08:00 CET``: what fromisoformat refuses but is plain."""
    match = _LOOSE.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second = match.groups()
    try:
        if hour is None:
            return date(int(year), int(month), int(day))
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    except ValueError:
        return None


def _searched_date(root: Any, url: str, latest: date) -> str | None:
    """htmldate's search (URL, text patterns, links) when the markup declares no date."""
    from htmldate import find_date

    try:
        found = find_date(
            root,
            url=url,
            original_date=True,
            extensive_search=False,
            max_date=latest.isoformat(),
            deferred_url_extractor=False,
        )
    except (ValueError, TypeError):
        return None
    return parse_date(found, latest=latest) if found else None


# -- people, site, image -----------------------------------------------------------------


def _authors(root: Any, story: dict[str, Any] | None, meta: MetaTags, site_keys: set[str]) -> list[str]:
    """Names of the people (or agencies) who wrote the story; the site's own name is not an author."""
    candidates: list[list[str]] = []
    if story:
        candidates += [_names(story.get("author")), _names(story.get("creator"))]
    for key in AUTHOR_META:
        candidates.append([v for v in meta.lists.get(key, ()) if not v.startswith(("http://", "https://", "@"))])
    for names in candidates:
        found = _clean_names(names, site_keys)
        if found:
            return found
    # Bylines on the page (rel=author, itemprop=author, class="author-name", ...): trafilatura's rules.
    from trafilatura.metadata import extract_author

    byline = extract_author(root)
    return _clean_names(byline.split(";"), site_keys) if byline else []


def _clean_names(raw: list[str], site_keys: set[str]) -> list[str]:
    out: dict[str, None] = {}
    for value in raw:
        for name in _NAME_SPLIT.split(_BYLINE_PREFIX.sub("", value.strip())):
            name = name.strip(" ,|→»")
            key = _key(name)
            if name and len(name) <= 100 and key not in _NOT_NAMES and key not in site_keys:
                out.setdefault(name)
    return list(out)


def _site_name(story: dict[str, Any] | None, nodes: list[dict[str, Any]], meta: MetaTags) -> str | None:
    for value in meta.first(SITE_NAME_META[:1]):
        return value
    if story:
        publisher = _names(story.get("publisher"))
        if publisher:
            return publisher[0]
    for node in nodes:
        if _types(node) & SITE_TYPES:
            names = _names(node.get("name"))
            if names:
                return names[0]
    for value in meta.first(SITE_NAME_META[1:]):
        return value
    return None


def _image(story: dict[str, Any] | None, meta: MetaTags, base: str) -> str | None:
    for value in meta.first(IMAGE_META):
        return urljoin(base, value)
    if story:
        image = story.get("image") or story.get("thumbnailUrl")
        for entry in image if isinstance(image, list) else [image]:
            link = entry.get("url") or entry.get("contentUrl") if isinstance(entry, dict) else entry
            if isinstance(link, list):
                link = link[0] if link else None
            if isinstance(link, str) and link.strip():
                return urljoin(base, link.strip())
    return None


def _tags(story: dict[str, Any] | None, meta: MetaTags) -> list[str]:
    raw: list[str] = []
    if story:
        keywords = story.get("keywords")
        raw = [k for v in _strings(keywords) for k in v.split(",")] if isinstance(keywords, (str, list)) else []
    if not raw:
        for key in TAG_META:
            values = meta.lists.get(key, ())
            if values:
                raw = [k for v in values for k in v.split(",")] if key != "article:tag" else list(values)
                break
    return list(dict.fromkeys(t.strip() for t in raw if t.strip()))[:50]
