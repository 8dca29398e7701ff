"""Environment overrides for Scrapy settings.

DESIGN.md: every setting can be overridden by an environment variable of the
same name. ``settings.py`` calls :func:`apply_environment` on its own globals,
so the override has project priority everywhere the project's settings load
(``scrapy crawl``, Scrapyd, the ``scraperq`` CLI), and ``-s NAME=VALUE`` on the
command line still wins over both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, MutableMapping
from typing import Any

from scraperq.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off")


def parse_like(name: str, raw: str, default: Any) -> Any:
    """Parse ``raw`` to the type of ``default`` (strings stay strings)."""
    try:
        if isinstance(default, bool):
            return parse_bool(name, raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, (dict, list)):
            value = json.loads(raw)
            if not isinstance(value, type(default)):
                raise ValueError
            return value
    except (ValueError, json.JSONDecodeError):
        raise ConfigError(f"{name}={raw!r} is not a valid {type(default).__name__}") from None
    return raw


def apply_environment(namespace: MutableMapping[str, Any], environ: Mapping[str, str] | None = None) -> None:
    """Replace every upper-case setting in ``namespace`` that the environment names."""
    environ = os.environ if environ is None else environ
    for name, default in list(namespace.items()):
        if name.isupper() and not name.startswith("_") and name in environ:
            namespace[name] = parse_like(name, environ[name], default)
