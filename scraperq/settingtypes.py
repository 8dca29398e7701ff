"""Is ``NAME=VALUE`` a value Scrapy can use for that setting? Checked before a job is scheduled.

A schedule's settings reach the crawl as ``-s NAME=VALUE`` text (Scrapyd's
``setting=``), and Scrapy types them only when a component reads them, so a
``DOWNLOAD_DELAY=abc`` would fail every run. The type a setting must have is
that of its value in the project's settings or, failing that, in Scrapy's
defaults, which are read from Scrapy's ``default_settings.py`` source as
literals (nothing of Scrapy is imported: the scheduler uses this).

How a text is judged, as Scrapy's ``getbool``/``getint``/``getfloat``/``getdict``
read it: a boolean setting takes ``0``, ``1``, ``True``/``true``,
``False``/``false``; a numeric one a number: a fraction where the name counts
seconds (``DELAY``, ``TIMEOUT``, ``_SECONDS``, ``_INTERVAL``: Scrapy reads
``DOWNLOAD_DELAY`` as a float although its default is ``0``), a whole number
for another integer; a dict setting a JSON object; anything else any text. A
name neither knows is accepted unless it is a letter or two away from a known
one: ``DOWNLOAD_DELAYY`` is refused with "did you mean DOWNLOAD_DELAY?".
"""

from __future__ import annotations

import ast
import difflib
import functools
import importlib.util
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

_UNKNOWN = object()  # a default that is not a literal: any text is taken
# Settings counting seconds take fractions even where the default is written as a whole number.
_SECONDS = re.compile(r"(DELAY|TIMEOUT|_SECONDS|_INTERVAL)")
_BOOLEANS = ("0", "1", "True", "true", "False", "false")


@functools.cache
def scrapy_defaults() -> dict[str, Any]:
    """Scrapy's default settings that are literals, by name (others map to a marker meaning "any")."""
    spec = importlib.util.find_spec("scrapy")
    if spec is None or not spec.submodule_search_locations:
        return {}
    source = Path(next(iter(spec.submodule_search_locations))) / "settings" / "default_settings.py"
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return {}
    found: dict[str, Any] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        value = getattr(node, "value", None)
        for target in targets:
            if isinstance(target, ast.Name) and target.id.isupper() and value is not None:
                try:
                    found[target.id] = ast.literal_eval(value)
                except ValueError:
                    found[target.id] = _UNKNOWN
    return found


def setting_problem(name: str, value: str, project: Mapping[str, Any]) -> str | None:
    """Why ``value`` will not do for setting ``name`` (None: it will)."""
    defaults = scrapy_defaults()
    if name in project:
        default = project[name]
    elif name in defaults:
        default = defaults[name]
    else:
        return _unknown(name, [*project, *defaults])
    if default is None or default is _UNKNOWN or isinstance(default, str):
        return None
    if isinstance(default, bool):
        return None if value.strip() in _BOOLEANS else "use 1 or 0 (or True, False)"
    if takes_fractions(name, default):
        try:
            float(value)
        except ValueError:
            return "not a number"
        return None
    if isinstance(default, int):
        return None if _is_whole(value) else "not a whole number"
    if isinstance(default, dict):
        try:
            parsed = json.loads(value)
        except ValueError:
            return 'not a JSON object, e.g. {"Accept-Language": "en"}'
        return None if isinstance(parsed, dict) else 'not a JSON object, e.g. {"Accept-Language": "en"}'
    return None  # lists and tuples: Scrapy splits text on commas


def takes_fractions(name: str, default: Any) -> bool:
    """Is setting ``name`` (whose default is ``default``) a number that may have a fraction?"""
    if isinstance(default, bool):
        return False
    return isinstance(default, float) or (isinstance(default, int) and bool(_SECONDS.search(name)))


def likely_misspelling(name: str, known: Iterable[str]) -> str | None:
    """The known setting ``name`` is a letter or two away from, if it is not itself known."""
    names = set(known)
    if name in names:
        return None
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.9)
    return close[0] if close else None


def _is_whole(value: str) -> bool:
    try:
        int(value.strip())
    except ValueError:
        return False
    return True


def _unknown(name: str, known: Iterable[str]) -> str | None:
    close = likely_misspelling(name, known)
    return f"not a setting Scrapy or the project knows; did you mean {close}?" if close else None
