"""Environment overrides for Scrapy settings, applied when the settings are loaded.

DESIGN.md: every setting can be overridden by an environment variable of the
same name. A setting is known if the project's settings module or Scrapy's
defaults name it; only such names are read (``PATH``, ``HOME``... are not
settings). Each value is typed by what the setting is: a boolean takes
1/0, true/false, yes/no, on/off; a number a number, with a fraction where the
setting counts seconds (``DOWNLOAD_DELAY=0.5``, although Scrapy's default is
``0``; see :func:`scraperq.settingtypes.takes_fractions`); a dict or list JSON;
anything else the text.

The overrides are set with project priority on the loaded settings, never
written into the settings module: ``scrapy crawl`` and ``scrapy settings``
apply them before ``-s`` (:mod:`scraperq.commands`), so ``-s NAME=VALUE`` still
wins; the :class:`EnvironmentSettings` add-on applies them to every crawler
(``scrapy shell``, ``fetch``...), and the ``scraperq`` CLI to the settings it
reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from scraperq.errors import ConfigError
from scraperq.settingtypes import takes_fractions

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
    """Parse ``raw`` as a value of setting ``name``, whose default is ``default`` (strings stay strings)."""
    try:
        if isinstance(default, bool):
            return parse_bool(name, raw)
        if takes_fractions(name, default):
            return float(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, (dict, list)):
            value = json.loads(raw)
            if not isinstance(value, type(default)):
                raise ValueError
            return value
    except (ValueError, json.JSONDecodeError):
        kind = "float" if takes_fractions(name, default) else type(default).__name__
        raise ConfigError(f"{name}={raw!r} is not a valid {kind}") from None
    return raw


def environment_overrides(defaults: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The typed value of every setting of ``defaults`` (name: default) the environment names."""
    environ = os.environ if environ is None else environ
    return {
        name: parse_like(name, environ[name], default)
        for name, default in defaults.items()
        if name.isupper() and not name.startswith("_") and name in environ
    }


def known_settings(settings: Any) -> dict[str, Any]:
    """Name and default of every setting of a Scrapy ``Settings`` (Scrapy's defaults and the project's)."""
    return {name: _plain(settings[name]) for name in settings}


def apply_environment(settings: Any, environ: Mapping[str, str] | None = None) -> None:
    """Set the environment's overrides on a Scrapy ``Settings``, with project priority (``-s`` stays above)."""
    for name, value in environment_overrides(known_settings(settings), environ).items():
        settings.set(name, value, priority="project")


def _plain(value: Any) -> Any:
    # Scrapy keeps dict settings (DOWNLOAD_HANDLERS, ITEM_PIPELINES...) as BaseSettings objects.
    copy = getattr(value, "copy_to_dict", None)
    return copy() if callable(copy) else value


class EnvironmentSettings:
    """Scrapy add-on (``ADDONS``): the environment's overrides on every crawler's settings."""

    def update_settings(self, settings: Any) -> None:
        apply_environment(settings)
