"""``scraperq status``: one look at the database (and, as they are added, the queue and scheduler).

The output is made of sections. A section is a function that takes a
:class:`StatusContext` and returns :class:`StatusLine` objects; ``STATUS_SECTIONS``
names them by dotted path, in print order. To report on another part of the
system, write such a function next to the code it reports on and add its path
to ``STATUS_SECTIONS``.

A section raises a :class:`~scraperq.errors.ScraperqError` only when nothing
useful can be said (the database cannot be reached: exit status 2). A part of
the system that may be down reports that as its value, e.g.
``StatusLine("redis", "unreachable: ...")``, so the other lines still print.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from scraperq.cli.common import open_db, print_json, project_settings
from scraperq.storage import Database, redact_url
from scraperq.storage.migrations import latest_version, schema_version
from scraperq.storage.results import count_results
from scraperq.storage.tasks import count_by_status

# Sections of `scraperq status`, in print order: "module:function" paths.
STATUS_SECTIONS = ("scraperq.cli.status:database_section", "scraperq.cli.queuestatus:queue_section")


@dataclass
class StatusLine:
    key: str  # the JSON key, also the label in text output
    value: Any  # the JSON value
    text: str | None = None  # how a person reads it; str(value) when None


@dataclass
class StatusContext:
    """What sections share: the project settings and a database opened on first use."""

    settings: Any
    _stack: ExitStack = field(default_factory=ExitStack)
    _db: Database | None = None

    @property
    def db(self) -> Database:
        if self._db is None:
            # Not migrated: status reports the schema version as it is.
            self._db = self._stack.enter_context(open_db(migrate_schema=False))
        return self._db

    def close(self) -> None:
        self._stack.close()


Section = Callable[[StatusContext], Iterable[StatusLine]]


def database_section(ctx: StatusContext) -> list[StatusLine]:
    db = ctx.db
    version, latest = schema_version(db), latest_version()
    schema_text = str(version)
    if version < latest:
        schema_text += f" (version {latest} available: run scraperq migrate)"
    lines = [
        StatusLine("database", redact_url(db.url)),
        StatusLine("schema_version", version, schema_text),
    ]
    if version == 0:
        return lines
    tasks = count_by_status(db)
    lines.append(StatusLine("tasks", tasks, ", ".join(f"{n} {status}" for status, n in tasks.items())))
    lines.append(StatusLine("results", count_results(db)))
    return lines


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show the database, schema version, task counts and result count",
        description="Show where the data lives (password hidden), its schema version, tasks by status and results.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def load_sections(paths: Iterable[str] = STATUS_SECTIONS) -> list[Section]:
    sections = []
    for path in paths:
        module, _, name = path.partition(":")
        sections.append(getattr(importlib.import_module(module), name))
    return sections


def run(args: argparse.Namespace) -> int:
    ctx = StatusContext(settings=project_settings())
    try:
        lines = [line for section in load_sections() for line in section(ctx)]
    finally:
        ctx.close()
    if args.json:
        print_json({line.key: line.value for line in lines})
        return 0
    width = max(len(line.key) for line in lines) + 2
    for line in lines:
        text = str(line.value) if line.text is None else line.text
        print(f"{line.key + ':':<{width}}{text}")
    return 0
