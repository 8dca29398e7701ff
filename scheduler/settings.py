"""The project's settings for the scheduler's processes, read without loading Scrapy.

The daemon and its commands need values, not a crawler: ``DATABASE_URL``,
``SCRAPYD_*``, ``SCRAPERQ_*``, ``REDIS_URL``. They come from the project's
settings module (``SCRAPY_SETTINGS_MODULE``, default ``scraperq.settings``:
values and dotted paths only, no Scrapy import), with environment variables of
the same name overriding them, typed like the value they replace, exactly as
``scrapy crawl`` sees them. Loading Scrapy's own settings machinery would pull
in Scrapy and Twisted, which the daemon has no use for.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from scraperq.config import ENVIRONMENT_ERROR, check_environment, parse_like
from scraperq.errors import ConfigError

DEFAULT_MODULE = "scraperq.settings"


class ProjectSettings(Mapping[str, Any]):
    """Upper-case names of the settings module, environment overrides applied; ``-s``-style ``overrides`` last."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None
    ) -> ProjectSettings:
        environ = os.environ if environ is None else environ
        name = environ.get("SCRAPY_SETTINGS_MODULE") or DEFAULT_MODULE
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(f"cannot load the settings module {name!r}: {exc}") from None
        values = {k: v for k, v in vars(module).items() if k.isupper() and not k.startswith("_")}
        if not values.get(ENVIRONMENT_ERROR):
            try:
                for key, default in list(values.items()):
                    if key in environ and key != ENVIRONMENT_ERROR:
                        values[key] = parse_like(key, environ[key], default)
            except ConfigError as exc:
                values[ENVIRONMENT_ERROR] = str(exc)
        values.update(overrides or {})
        settings = cls(values)
        check_environment(settings)
        return settings

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def getdict(self, key: str) -> dict[str, Any]:
        value = self._values.get(key) or {}
        if isinstance(value, str):
            import json

            value = json.loads(value)
        return dict(value)
