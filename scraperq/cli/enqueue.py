"""``scraperq enqueue URL... [--spider S] [--priority N] [--file F|-]``: queue URLs for the workers.

Every URL is checked first (scheme, host, addresses ``SCRAPERQ_ALLOW_PRIVATE``
blocks): one bad URL is a one-line error and nothing is queued, unless
``--skip-invalid`` says to queue the others and report it. A URL given twice is
queued once. Then each URL gets a ``tasks`` row and a JSON payload ``{"url",
"task_id", "priority"?}`` in ``SPIDER:start_urls`` (or the ``redis_key`` of a
spider written for scrapy-redis; :func:`scraperq.payloads.enqueue_urls`: COPY
on PostgreSQL and pipelined ``LPUSH``, 10,000 URLs a step), and the task
ids are printed, one per line, in the order of the URLs (a repeated URL repeats
its id), to standard output or ``--ids-output FILE``.

On a terminal, standard error shows a progress bar; at the end it gets one line
saying what was queued, refused (with the first reasons) and found twice.

Settings: ``REDIS_URL`` (required), ``DATABASE_URL``, ``SCRAPERQ_ALLOW_PRIVATE``,
``REDIS_START_URLS_KEY``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from scraperq.cli.common import open_db, output_file, project_settings
from scraperq.errors import BadInput
from scraperq.payloads import (
    MAX_PRIORITY,
    check_start_url,
    enqueue_urls,
    parse_allow_private,
    queue_client,
    start_urls_key,
)

# Refusals whose reasons the summary line spells out; the rest are counted.
SHOWN_REFUSALS = 3


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
    parser.add_argument("--ids-output", metavar="FILE", help="write the task ids to FILE instead of standard output")
    parser.add_argument(
        "--skip-invalid", action="store_true", help="queue the valid URLs and report the others (default: queue none)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    settings = project_settings()
    priority = parse_priority(args.priority)
    allow = parse_allow_private(settings.get("SCRAPERQ_ALLOW_PRIVATE", "0"))
    checked: list[str | None] = []  # per input URL: the URL, or None when refused
    refused: list[str] = []
    for where, number, raw in numbered_urls(args.urls, args.file):
        try:
            checked.append(check_start_url(raw, allow))
        except BadInput as exc:
            place = where % number  # made only for the refused: a bulk file has 100,000 lines
            if not args.skip_invalid:
                raise BadInput(f"{place}: {exc}") from None
            refused.append(f"{place}: {exc}")
            checked.append(None)
    unique = list(dict.fromkeys(url for url in checked if url is not None))
    if not unique:
        if refused:
            raise BadInput(
                f"no valid URLs: {refused[0]}" + (f" (and {len(refused) - 1} more)" if len(refused) > 1 else "")
            )
        raise BadInput("no URLs: give them as arguments or with --file F (or --file - for standard input)")
    spidercls = check_spider(settings, args.spider)
    client = queue_client(settings)
    try:
        with open_db() as db, progress_bar(len(unique)) as bar:
            key = spider_start_key(spidercls, args.spider, settings)
            ids = enqueue_urls(db, client, unique, spider=args.spider, priority=priority, key=key, progress=bar.update)
    finally:
        client.close()
    id_of = dict(zip(unique, ids, strict=True))
    with output_file(args.ids_output) as out:
        out.write("".join(f"{id_of[url]}\n" for url in checked if url is not None))
        out.flush()
    duplicates = sum(1 for url in checked if url is not None) - len(unique)
    sys.stderr.write(summary(len(unique), args.spider, refused, duplicates, time.monotonic() - started) + "\n")
    return 0


def progress_bar(total: int) -> Any:
    """A tqdm bar on standard error when that is a terminal; silent otherwise (its ``update`` does nothing)."""
    from tqdm import tqdm

    # Drawn at every update: they come a chunk of thousands of URLs at a time, so few and far between.
    return tqdm(total=total, unit=" URLs", file=sys.stderr, disable=not sys.stderr.isatty(), leave=False, mininterval=0)


def summary(queued: int, spider: str, refused: list[str], duplicates: int, seconds: float) -> str:
    """``queued 9,998 URLs for generic in 1.2 s; refused 2 (...); 3 duplicates in the input, queued once``."""
    parts = [f"queued {queued:,} URL{'s' if queued != 1 else ''} for {spider} in {seconds:.1f} s"]
    if refused:
        shown = "; ".join(refused[:SHOWN_REFUSALS])
        more = f"; and {len(refused) - SHOWN_REFUSALS:,} more" if len(refused) > SHOWN_REFUSALS else ""
        parts.append(f"refused {len(refused):,} ({shown}{more})")
    if duplicates:
        parts.append(f"{duplicates:,} duplicate{'s' if duplicates != 1 else ''} in the input, queued once")
    return "; ".join(parts)


def numbered_urls(args: Iterable[str], path: str | None) -> Iterator[tuple[str, int, str]]:
    """Each URL with where it came from, for error messages: ``where % number`` says it."""
    for index, url in enumerate(args, start=1):
        yield "argument %d", index, url
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


def _lines(handle: Iterable[str], name: str) -> Iterator[tuple[str, int, str]]:
    where = "line %d of " + name.replace("%", "%%")
    for number, line in enumerate(handle, start=1):
        text = line.strip()
        if text and text[0] != "#":
            yield where, number, text


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
