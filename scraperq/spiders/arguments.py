"""The arguments of the project's spiders, declared once (no Scrapy here: the scheduler reads them too).

To add an argument, add an :class:`~scraperq.arguments.Arg` to its spider's
declaration below; the spider reads the typed value from ``self.args[name]``.
``scrapy crawl -a``, ``scraperq schedule add/edit``, ``POST``/``PATCH
/api/schedules`` and the dashboard all check it from here. :data:`SPIDERS` names
every Python spider of ``scraperq/spiders/`` with its declaration, and
:data:`KINDS` the declaration of each kind of source file
(``scraperq/sources/README.md``); a test keeps both equal to what ``scrapy
list`` loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scraperq.arguments import (
    Arg,
    Arguments,
    Rule,
    boolean,
    choice,
    environment_variable,
    integer,
    iso_time,
    jmespath_expression,
    non_empty,
    regex,
    render_mode,
    url,
    urls,
)
from scraperq.scope import FOLLOW_MODES


def _worker_without_urls(values: Mapping[str, Any]) -> str | None:
    if values["worker"] and (values["url"] or values["urls"]):
        return "worker=1 takes its URLs from the queue: drop -a url/urls, or use scraperq enqueue"
    return None


# Every spider: where its start URLs come from.
TASK = Arguments(
    (
        Arg("url", "a start URL", url),
        Arg("urls", "start URLs, separated by spaces or by commas before http(s)://", urls),
        Arg("worker", "1: serve the shared queue (REDIS_URL) even with start_urls; 0: never", boolean),
    ),
    rules=(Rule("worker", _worker_without_urls),),
)


def _scope_needs_follow(name: str) -> Rule:
    def check(values: Mapping[str, Any]) -> str | None:
        given = values[name] if name != "depth" else (values["depth"] or 0) > 0
        if values["follow"] == "none" and given:
            return "nothing is followed with follow=none; add -a follow=same-domain"
        return None

    return Rule(name, check)


GENERIC = TASK.extend(
    Arg("follow", f"which links to follow: {', '.join(FOLLOW_MODES)}", choice(FOLLOW_MODES), default="none"),
    Arg("depth", "how many links away from a task's own page to go (default 1 when following)", integer(minimum=0)),
    Arg("allow", "a regular expression a followed URL must contain", regex),
    Arg("render", "render pages in Chromium: never, auto (empty shells with scripts) or always", render_mode, "never"),
    rules=(_scope_needs_follow("depth"), _scope_needs_follow("allow")),
)

FEED = TASK

SITEMAP = TASK.extend(
    Arg("allow", "a regular expression a listed URL must contain to be kept", regex),
    Arg("since", "an ISO date or time: keep URLs whose lastmod is that or later", iso_time),
)

PAGINATION_MODES = ("none", "page", "cursor", "next")


def _key_options_need_key_env(name: str) -> Rule:
    def check(values: Mapping[str, Any]) -> str | None:
        if values[name] is not None and not values["key_env"]:
            return "has no effect without -a key_env=VARIABLE"
        return None

    return Rule(name, check)


JSONAPI = TASK.extend(
    Arg("paginate", f"how pages follow each other: {', '.join(PAGINATION_MODES)}", choice(PAGINATION_MODES)),
    Arg("page_param", "query parameter of the page number (page)", non_empty),
    Arg("first_page", "number of the first page (1)", integer(minimum=0)),
    Arg("cursor_param", "query parameter of the cursor (cursor)", non_empty),
    Arg("cursor_path", "JMESPath to the next cursor in a response (next_cursor)", jmespath_expression),
    Arg("next_path", "JMESPath to the next page's URL in a response (next)", jmespath_expression),
    Arg("item_path", "JMESPath to the records (the whole response)", jmespath_expression),
    Arg("max_pages", "pages fetched per start URL at most", integer(minimum=1)),
    Arg("key_env", "name of the environment variable holding the API key", environment_variable),
    Arg("key_header", "header the key is sent in (Authorization)", non_empty),
    Arg("key_prefix", "text before the key in that header (Bearer for Authorization)", str),
    rules=(_key_options_need_key_env("key_header"), _key_options_need_key_env("key_prefix")),
)

SOURCE = TASK.extend(
    Arg("base_url", "resolve relative start pages against another host (a staging copy)", url),
    Arg("category", "the source's category names to crawl, separated by commas", non_empty),
    Arg("max_pages", "listing pages per start page", integer(minimum=1)),
    Arg("render", "render pages in Chromium: never, auto or always (default: the source's)", render_mode),
)

# Python spiders of scraperq/spiders/, by name.
SPIDERS: dict[str, Arguments] = {
    "generic": GENERIC,
    "feed": FEED,
    "sitemap": SITEMAP,
    "jsonapi": JSONAPI,
    "example_news": SOURCE,
    "example_books_api": JSONAPI,
}

# Source files (scraperq/sources/), by their kind.
KINDS: dict[str, Arguments] = {"html": SOURCE, "feed": FEED, "sitemap": SITEMAP, "jsonapi": JSONAPI}


@dataclass(frozen=True)
class SpiderInfo:
    """A spider of the project as the scheduler sees it: its arguments, and a source file's ``args``."""

    name: str
    arguments: Arguments
    defaults: Mapping[str, str] = field(default_factory=dict)
    source_file: str | None = None

    def check(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The typed values of ``given`` as the crawl will check them (:class:`ArgumentError` if refused)."""
        return self.arguments.parse(given, spider=self.name, defaults=self.defaults)


def project_spiders(sources_dir: str | None) -> dict[str, SpiderInfo]:
    """Every spider ``scrapy list`` shows, by name: the Python spiders and one per source file.

    Source files are read for their name, kind and ``args`` only (a file with a
    mistake elsewhere is listed, and refused when its crawl starts, with the field).
    """
    from scraperq.sources.files import source_summaries

    found = {name: SpiderInfo(name, declared) for name, declared in SPIDERS.items()}
    for source in source_summaries(sources_dir):
        if source.name not in found and source.kind in KINDS:
            found[source.name] = SpiderInfo(source.name, KINDS[source.kind], source.args, source.file)
    return found
