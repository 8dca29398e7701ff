"""The ``scraperq`` command.

Each sub-command lives in its own module with ``register(subparsers)``, which
adds its parser and sets ``handler`` to a function taking the parsed arguments
and returning an exit status. Errors scraperq raises on purpose become one line
on stderr and exit status 2; nothing prints a traceback for bad input.

Commands of other packages join through the ``scraperq.commands`` entry-point
group (an entry point names a ``register`` function): the scheduler's
``schedule`` and ``scheduler`` are found that way, so this package never
imports ``scheduler/``. One whose dependencies are not installed still shows up,
and says in one line what to install.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points

from scraperq.errors import ConfigError, ScraperqError

# Sub-command modules, in the order `scraperq --help` lists them.
COMMAND_MODULES = (
    "scraperq.cli.migrate",
    "scraperq.cli.enqueue",
    "scraperq.cli.importqueue",
    "scraperq.cli.tasks",
    "scraperq.cli.results",
    "scraperq.cli.purge",
    "scraperq.cli.archive",
    "scraperq.cli.status",
    "scraperq.cli.dead",
)
COMMAND_ENTRY_POINTS = "scraperq.commands"

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as argparse does, minus the usage dump
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scraperq", description="Scraping job system on Scrapy, Redis, PostgreSQL and Scrapyd.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    for entry in sorted(entry_points(group=COMMAND_ENTRY_POINTS), key=lambda e: e.name):
        _register_entry_point(subparsers, entry)
    return parser


def _register_entry_point(subparsers: argparse._SubParsersAction, entry: EntryPoint) -> None:
    try:
        register = entry.load()
    except ImportError as exc:  # the command's package is here, its dependencies are not
        missing = exc.name or str(exc)
        message = (
            f"`scraperq {entry.name}` needs the scheduler's dependencies, which are not installed"
            f" ({missing} is missing): pip install 'scraperq[scheduler]'"
        )
        stub = subparsers.add_parser(entry.name, help=f"(not installed: {missing})", add_help=False)
        stub.add_argument("rest", nargs=argparse.REMAINDER)
        stub.set_defaults(handler=_refuse(message))
        return
    register(subparsers)


def _refuse(message: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        raise ConfigError(message)

    return handler


def main(argv: Sequence[str] | None = None) -> int:
    # The CLI works from any folder: settings come from the package, not scrapy.cfg.
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "scraperq.settings")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args) or 0)
    except ScraperqError as exc:
        print(f"scraperq: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `scraperq results | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
