"""What the sub-commands share: settings, the database, output helpers, parsers.

Parsers raise :class:`~scraperq.errors.BadInput` with a one-line message, which
``scraperq`` prints as ``scraperq: error: ...`` with exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from scraperq.config import apply_environment
from scraperq.display import format_table, format_time, print_json, shorten  # noqa: F401 - the sub-commands' output
from scraperq.errors import BadInput
from scraperq.storage import Database, database_url, open_database
from scraperq.storage.export import atomic_text_file
from scraperq.times import parse_duration, parse_when  # noqa: F401 - the sub-commands' parsers


def project_settings() -> Any:
    from scrapy.utils.project import get_project_settings

    settings = get_project_settings()
    apply_environment(settings)  # a malformed override: ConfigError, reported in one line
    return settings


def open_db(*, migrate_schema: bool = True) -> Database:
    return open_database(database_url(project_settings()), migrate_schema=migrate_schema)


# -- parsing arguments -------------------------------------------------------------


def parse_positive_int(name: str, text: str) -> int:
    """A whole number >= 0 (the name says what it is, for the error message)."""
    try:
        value = int(text)
    except ValueError:
        raise BadInput(f"{name} {text!r} is not a whole number") from None
    if value < 0:
        raise BadInput(f"{name} must not be negative")
    return value


def parse_id(name: str, text: str) -> int:
    """A database id: a whole number >= 1."""
    value = parse_positive_int(name, text)
    if value < 1:
        raise BadInput(f"{name} must be 1 or more")
    return value


# -- output ------------------------------------------------------------------------


@contextmanager
def output_file(path: str | None) -> Iterator[IO[str]]:
    """Standard output for None or '-', else ``path``, written whole or not at all."""
    if path in (None, "-"):
        yield sys.stdout
        return
    try:
        with atomic_text_file(path) as out:
            yield out
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror or exc}") from None
