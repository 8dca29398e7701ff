"""Spider arguments, declared once: name, type, meaning and the rules between them.

A spider's arguments are an :class:`Arguments` value (``scraperq/spiders/arguments.py``
holds the project's): each :class:`Arg` has a name, a one-line meaning and a
parser that turns the ``-a`` text into a typed value or says, in words, why it
cannot; a :class:`Rule` relates arguments ("``depth`` needs ``follow``"). The same
declaration checks ``scrapy crawl -a``, ``scraperq schedule add/edit``, the
HTTP API and the dashboard, and nothing here imports Scrapy, so the scheduler
daemon checks a schedule's arguments without loading a crawler.

An argument the spider does not declare is refused with the list of those it
has. A bad value is an :class:`ArgumentError` (a
:class:`~scraperq.errors.BadInput`) whose ``name`` says which argument it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scraperq.errors import BadInput
from scraperq.urls import validate_url

# Scrapyd passes the job id to every spider as this argument; it is not the user's.
SCRAPYD_JOB_ARG = "_job"


class ArgumentError(BadInput):
    """A spider argument that is unknown or has a bad value; ``name`` and ``reason`` say which and why."""

    def __init__(self, name: str, value: object, reason: str) -> None:
        super().__init__(f"-a {name}={value!r}: {reason}")
        self.name = name
        self.value = value
        self.reason = reason


Parser = Callable[[str], Any]


@dataclass(frozen=True)
class Arg:
    """One argument: ``parse`` takes its text and returns the value, or raises ValueError with the reason."""

    name: str
    help: str
    parse: Parser = str
    default: Any = None  # what the spider does when it is not given (None: nothing / the spider's own)


@dataclass(frozen=True)
class Rule:
    """A condition between arguments; ``check`` sees every value (defaults filled in) and returns a reason or None.

    The reason is reported against ``name``, the argument the user should change.
    """

    name: str
    check: Callable[[Mapping[str, Any]], str | None]


@dataclass(frozen=True)
class Arguments:
    args: tuple[Arg, ...]
    rules: tuple[Rule, ...] = field(default=())

    def extend(self, *args: Arg, rules: Iterable[Rule] = ()) -> Arguments:
        """These arguments and rules plus more (a later one of the same name replaces an earlier one)."""
        names = {a.name for a in args}
        return Arguments(tuple(a for a in self.args if a.name not in names) + args, self.rules + tuple(rules))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.args)

    def get(self, name: str) -> Arg | None:
        return next((a for a in self.args if a.name == name), None)

    def parse(
        self, given: Mapping[str, Any], *, spider: str, defaults: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Typed values of the given arguments over ``defaults`` (a source file's ``args``), with declared
        defaults filled in for the rest; :class:`ArgumentError` for the first unknown or bad one.

        Values that are not text (a source file's numbers, an already typed value) are parsed from their
        text, so the result is the same whichever way they came.
        """
        raw = {**(defaults or {}), **{k: v for k, v in given.items() if k != SCRAPYD_JOB_ARG}}
        values: dict[str, Any] = {a.name: a.default for a in self.args}
        for name, value in raw.items():
            arg = self.get(name)
            if arg is None:
                known = ", ".join(self.names) or "none"
                raise ArgumentError(name, value, f"{spider} has no argument {name!r} (its arguments: {known})")
            values[name] = _parsed(arg, value)
        for rule in self.rules:
            reason = rule.check(values)
            if reason is not None:
                raise ArgumentError(rule.name, raw.get(rule.name, values.get(rule.name)), reason)
        return values

    def describe(self) -> list[dict[str, str]]:
        """Name and meaning of each argument (``scrapy list``-like listings, the API)."""
        return [{"name": a.name, "help": a.help} for a in self.args]


def _parsed(arg: Arg, value: Any) -> Any:
    if value is None:
        return arg.default
    try:
        return arg.parse(value if isinstance(value, str) else _text(value))
    except (ValueError, BadInput) as exc:
        reason = exc.args[0] if exc.args else "not a valid value"
        raise ArgumentError(arg.name, value, str(reason)) from None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# -- argument types ---------------------------------------------------------------------------


def text(raw: str) -> str:
    return raw


def non_empty(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def url(raw: str) -> str:
    return validate_url(raw)


def split_urls(raw: str) -> list[str]:
    """URLs separated by whitespace, or by commas that start a new http(s) URL.

    A comma inside a URL (``?ids=1,2``) is left alone.
    """
    return [u for u in re.split(r"\s+|,\s*(?=https?://)", raw, flags=re.I) if u]


def urls(raw: str) -> list[str]:
    return [validate_url(u) for u in split_urls(raw)]


def integer(minimum: int | None = None) -> Parser:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError("not a whole number") from None
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least {minimum}")
        return value

    return parse


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def boolean(raw: str) -> bool:
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("use 1 or 0")


def choice(values: Iterable[str], *, aliases: Mapping[str, str] | None = None) -> Parser:
    """One of ``values`` (case-insensitive; ``aliases`` maps other words to them)."""
    allowed = tuple(values)
    synonyms = dict(aliases or {})

    def parse(raw: str) -> str:
        word = raw.strip().lower()
        word = synonyms.get(word, word)
        if word not in allowed:
            raise ValueError(f"use one of {', '.join(allowed)}")
        return word

    return parse


def regex(raw: str) -> re.Pattern[str]:
    try:
        return re.compile(raw)
    except re.error as exc:
        raise ValueError(f"not a regular expression ({exc})") from None


def iso_time(raw: str) -> datetime:
    """An ISO date or time; UTC unless it says otherwise."""
    try:
        when = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("not an ISO date or time, e.g. 2026-01-31") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def jmespath_expression(raw: str) -> str:
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        jmespath.compile(raw)
    except JMESPathError as exc:
        raise ValueError(f"not a JMESPath expression ({exc})") from None
    return raw


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def environment_variable(raw: str) -> str:
    """The name of an environment variable (never its value)."""
    name = raw.strip()
    if not _ENV_NAME.match(name):
        raise ValueError("not the name of an environment variable (letters, digits and _)")
    return name


# Rendering in Chromium (scraperq.rendering): the modes, and the words that mean them.
RENDER_MODES = ("never", "auto", "always")
RENDER_ALIASES = {"true": "always", "yes": "always", "1": "always", "false": "never", "no": "never", "0": "never"}
render_mode = choice(RENDER_MODES, aliases=RENDER_ALIASES)


def parse_render_mode(raw: Any, *, name: str = "render") -> str:
    """``never``, ``auto`` or ``always`` from an argument (booleans allowed); BadInput naming it otherwise."""
    if isinstance(raw, bool):
        return "always" if raw else "never"
    try:
        return render_mode(str(raw if raw is not None else "never"))
    except ValueError as exc:
        raise ArgumentError(name, raw, str(exc)) from None
