"""``scraperq dead list|requeue|purge [--spider S] [ID...]``: look at and replay refused payloads.

``list`` shows each letter of ``NAME:dead`` (newest first): its id, spider, when,
why, and the start of its payload with control characters escaped (a payload is
whatever someone pushed, and must not drive the terminal). ``requeue`` puts the
letters (all, or the ids given) back on ``NAME:start_urls``, where workers check
them again; ``purge`` deletes them. Without ``--spider``, every spider's letters.
See :mod:`scraperq.queue.deadletters`.

Settings: ``REDIS_URL`` (required), ``REDIS_START_URLS_KEY``.
"""

from __future__ import annotations

import argparse
import re

from scraperq.cli.common import format_table, parse_positive_int, print_json, project_settings
from scraperq.errors import BadInput, StorageUnavailable
from scraperq.queue import deadletters
from scraperq.queue.connection import REDIS_DOWN_ERRORS, client_from_settings, describe_error

EXCERPT_CHARS = 60
_ID = re.compile(r"^[0-9a-fA-F]{12}$")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dead",
        help="list, requeue or purge dead letters (refused start payloads)",
        description="Dead letters are start payloads workers refused, each with the reason (NAME:dead in Redis).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", help="show dead letters, newest first")
    listing.add_argument("--spider", metavar="S", help="only this spider's")
    listing.add_argument("--limit", default="50", metavar="N", help="at most N (default 50; 0 for all)")
    listing.add_argument("--json", action="store_true", help="one JSON array, with every field")
    listing.set_defaults(handler=run_list)
    for name, text in (
        ("requeue", "put dead letters back on NAME:start_urls (all, or the ids given)"),
        ("purge", "delete dead letters (all, or the ids given)"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument("ids", nargs="*", metavar="ID", help="letter ids from `scraperq dead list`")
        action.add_argument("--spider", metavar="S", help="only this spider's")
        action.set_defaults(handler=run_move, move=name)


def run_list(args: argparse.Namespace) -> int:
    limit = parse_positive_int("--limit", args.limit) or 10**12
    client = client_from_settings(project_settings())
    try:
        letters = deadletters.list_letters(client, args.spider, limit=limit)
    except REDIS_DOWN_ERRORS as exc:
        raise StorageUnavailable(f"Redis failed: {describe_error(exc)}") from None
    finally:
        client.close()
    if args.json:
        print_json([letter.as_json() for letter in letters])
        return 0
    if not letters:
        print("no dead letters" + (f" for spider {args.spider}" if args.spider else ""))
        return 0
    rows = [(x.id, x.spider, x.at, escaped(x.reason), excerpt(x.excerpt)) for x in letters]
    print(format_table(("id", "spider", "at", "reason", "payload"), rows, max_widths={"reason": 80}))
    return 0


def run_move(args: argparse.Namespace) -> int:
    bad = [i for i in args.ids if not _ID.match(i)]
    if bad:
        raise BadInput(f"{bad[0]!r} is not a dead letter id (12 hex digits, as `scraperq dead list` shows)")
    settings = project_settings()
    client = client_from_settings(settings)
    try:
        if args.move == "requeue":
            moved = deadletters.requeue(
                client, args.spider, args.ids, start_urls_template=settings.get("REDIS_START_URLS_KEY")
            )
        else:
            moved = deadletters.purge(client, args.spider, args.ids)
    except REDIS_DOWN_ERRORS as exc:
        raise StorageUnavailable(f"Redis failed: {describe_error(exc)}") from None
    finally:
        client.close()
    verb = "requeued" if args.move == "requeue" else "purged"
    per_spider = ", ".join(f"{n} of {spider}" for spider, n in moved.done.items())
    print(f"{verb} {moved.total} dead letters" + (f" ({per_spider})" if per_spider else ""))
    for letter, why in moved.skipped:
        print(f"kept {letter.id} ({letter.spider}): {why}")
    if moved.missing:
        raise BadInput(f"no dead letter with id {', '.join(moved.missing)}")
    return 0


def escaped(text: str) -> str:
    """Control characters and other unprintable ones as Python escapes (``\\x1b``, ``\\n``, ``\\udcff``)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def excerpt(payload: str) -> str:
    text = escaped(payload)
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 3] + "..."
