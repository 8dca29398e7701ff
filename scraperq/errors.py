"""One base exception for scraperq, with the subclasses callers are expected to catch.

Every message is one line a person can act on; the CLI prints it and exits 2,
the API returns it as JSON with a 4xx status.
"""


class ScraperqError(Exception):
    """Base class of every error scraperq raises on purpose."""


class ConfigError(ScraperqError):
    """A setting or environment variable has a value that cannot be used."""


class BadInput(ScraperqError):
    """Something a user typed or sent (URL, payload, argument) is not valid."""


class StorageUnavailable(ScraperqError):
    """The database cannot be reached or opened."""


class NotFound(ScraperqError):
    """A task, schedule or other named thing does not exist."""


class Conflict(ScraperqError):
    """The request clashes with what is stored (for example a duplicate name)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its class name when the message is empty.

    Error columns, log lines and CLI errors hold one line; driver and library exceptions
    often carry several (a query, a hint, a traceback excerpt).
    """
    lines = str(exc).strip().splitlines()
    return lines[0] if lines and lines[0].strip() else type(exc).__name__
