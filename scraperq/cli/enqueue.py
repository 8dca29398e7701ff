"""``scraperq enqueue URL... [--spider S] [--priority N] [--file F|-]``: queue URLs for the workers.

Every URL is checked first (scheme, host, addresses ``SCRAPERQ_ALLOW_PRIVATE``
blocks): one bad URL is a one-line error and nothing is queued. Then each URL
gets a ``tasks`` row and a JSON payload ``{"url", "task_id", "priority"?}`` in
``SPIDER:start_urls``, or the ``redis_key`` of a spider written for scrapy-redis
(:func:`scraperq.payloads.enqueue_urls`: multi-row inserts
and one ``LPUSH`` per few thousand URLs), and the task ids are printed, one per
line, in the order of the URLs.

Settings: ``REDIS_URL`` (required), ``DATABASE_URL``, ``SCRAPERQ_ALLOW_PRIVATE``,
``REDIS_START_URLS_KEY``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from scraperq.cli.common import open_db, project_settings
from scraperq.errors import BadInput
from scraperq.payloads import (
    MAX_PRIORITY,
    check_start_url,
    enqueue_urls,
    parse_allow_private,
    queue_client,
    start_urls_key,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "enqueue",
        help="queue URLs for the workers (prints task ids)",
        description="Create a task per URL and queue it in Redis for the spider's workers; print the task ids.",
    )
    parser.add_argument("urls", nargs="*", metavar="URL", help="URLs to crawl")
    parser.add_argument("--spider", default="generic", metavar="S", help="the spider to run them (default: generic)")
    parser.add_argument("--priority", default="0", metavar="N", help="higher runs first (default 0)")
    parser.add_argument(
        "--file", metavar="F", help="read more URLs from F, one per line ('-' for standard input; # starts a comment)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = project_settings()
    priority = parse_priority(args.priority)
    allow = parse_allow_private(settings.get("SCRAPERQ_ALLOW_PRIVATE", "0"))
    urls = []
    for where, raw in numbered_urls(args.urls, args.file):
        try:
            urls.append(check_start_url(raw, allow))
        except BadInput as exc:
            raise BadInput(f"{where}: {exc}") from None
    if not urls:
        raise BadInput("no URLs: give them as arguments or with --file F (or --file - for standard input)")
    spidercls = check_spider(settings, args.spider)
    client = queue_client(settings)
    try:
        with open_db() as db:
            key = spider_start_key(spidercls, args.spider, settings)
            ids = enqueue_urls(db, client, urls, spider=args.spider, priority=priority, key=key)
    finally:
        client.close()
    out = sys.stdout
    out.write("".join(f"{task_id}\n" for task_id in ids))
    out.flush()
    return 0


def numbered_urls(args: Iterable[str], path: str | None) -> Iterator[tuple[str, str]]:
    """Each URL with where it came from, for error messages."""
    for index, url in enumerate(args, start=1):
        yield f"argument {index}", url
    if path is None:
        return
    if path == "-":
        yield from _lines(sys.stdin, "standard input")
        return
    try:
        with open(path, encoding="utf-8") as handle:
            yield from _lines(handle, path)
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"cannot read {path}: not UTF-8 text") from None


def _lines(handle: Iterable[str], name: str) -> Iterator[tuple[str, str]]:
    for number, line in enumerate(handle, start=1):
        text = line.strip()
        if text and not text.startswith("#"):
            yield f"line {number} of {name}", text


def parse_priority(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadInput(f"--priority {text!r} is not a whole number") from None
    if abs(value) > MAX_PRIORITY:
        raise BadInput(f"--priority {value} is out of range: use -{MAX_PRIORITY} to {MAX_PRIORITY}")
    return value


def check_spider(settings: Any, name: str) -> Any:
    """The spider's class; BadInput naming the project's spiders when it has none of that name."""
    from scrapy.spiderloader import get_spider_loader

    loader = get_spider_loader(settings)
    known = loader.list()
    if name not in known:
        raise BadInput(f"unknown spider {name!r}: this project has {', '.join(sorted(known)) or 'no spiders'}")
    return loader.load(name)


def spider_start_key(spidercls: Any, name: str, settings: Any) -> str:
    """Where the spider's workers take payloads: a scrapy-redis spider's own ``redis_key``, else ``NAME:start_urls``."""
    from scraperq.queue.startreader import class_start_key

    return class_start_key(spidercls, name) or start_urls_key(name, settings.get("REDIS_START_URLS_KEY"))
