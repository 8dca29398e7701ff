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


# Where settings.py keeps an override it could not parse (see check_environment).
ENVIRONMENT_ERROR = "SCRAPERQ_ENVIRONMENT_ERROR"


def check_environment(settings: Any) -> None:
    """Raise the ConfigError settings.py kept for a malformed environment override, if any.

    Raised at import, it would reach ``scrapy`` users as a traceback before any code of
    ours could turn it into the one-line error bad input gets; so settings.py keeps it,
    and the spiders and the ``scraperq`` CLI raise it here.
    """
    problem = settings.get(ENVIRONMENT_ERROR)
    if problem:
        raise ConfigError(str(problem))


def apply_environment(namespace: MutableMapping[str, Any], environ: Mapping[str, str] | None = None) -> None:
    """Replace every upper-case setting in ``namespace`` that the environment names."""
    environ = os.environ if environ is None else environ
    for name, default in list(namespace.items()):
        if name.isupper() and not name.startswith("_") and name in environ:
            namespace[name] = parse_like(name, environ[name], default)
