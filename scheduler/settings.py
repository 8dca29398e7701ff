"""The project's settings for the scheduler's processes, read without loading Scrapy.

The daemon and its commands need values, not a crawler: ``DATABASE_URL``,
``SCRAPYD_*``, ``SCRAPERQ_*``, ``REDIS_URL``. They come from the project's
settings module (``SCRAPY_SETTINGS_MODULE``, default ``scraperq.settings``:
values and dotted paths only, no Scrapy import), with environment variables of
the same name overriding them, typed like the value they replace, exactly as
``scrapy crawl`` sees them. Loading Scrapy's own settings machinery would pull
in Scrapy and Twisted, which the daemon has no use for.

Settings only the daemon reads have their defaults here (:data:`DAEMON_DEFAULTS`),
beneath the module's values. The alert webhooks (:data:`ENVIRONMENT_ONLY`) carry
their secret in the URL and come from the environment alone: a settings module
that names them is refused.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from scraperq.config import environment_overrides
from scraperq.errors import ConfigError

DEFAULT_MODULE = "scraperq.settings"

# Settings only the daemon reads (the crawl has no use for them, so the settings module need not
# name them); a settings module may still set them, and the environment overrides either.
DAEMON_DEFAULTS: dict[str, Any] = {
    # --- Alerts (scheduler/alerts/) ---
    # The console's address as people reach it, for links in alerts, e.g. https://scraperq.example.com
    "SCRAPERQ_CONSOLE_URL": None,
    # A schedule whose runs fail this many times in a row raises schedule.failing; 0: never.
    # A schedule may set its own (a schedule setting of the same name).
    "SCRAPERQ_ALERT_FAILURES_IN_A_ROW": 3,
    # A schedule's run that finishes with no item stored raises schedule.empty; a schedule may set its own.
    "SCRAPERQ_ALERT_EMPTY_RUNS": True,
    # Dead letters of one spider that raise dead_letters.threshold; 0: never.
    "SCRAPERQ_ALERT_DEAD_LETTERS": 100,
    # Seconds a Scrapyd node must stay unreachable before node.down (one slow answer is not an outage).
    "SCRAPERQ_ALERT_NODE_DOWN_AFTER": 30.0,
    # Seconds between two looks for events.
    "SCRAPERQ_ALERT_INTERVAL": 5.0,
    # Seconds one delivery may take, all of it (connecting, sending, the answer).
    "SCRAPERQ_ALERT_TIMEOUT": 10.0,
    # A failed delivery is tried again after SCRAPERQ_ALERT_RETRY_BACKOFF seconds, then twice that,
    # and so on up to SCRAPERQ_ALERT_RETRY_MAX_DELAY, at most SCRAPERQ_ALERT_MAX_ATTEMPTS times in all.
    "SCRAPERQ_ALERT_RETRY_BACKOFF": 5.0,
    "SCRAPERQ_ALERT_RETRY_MAX_DELAY": 600.0,
    "SCRAPERQ_ALERT_MAX_ATTEMPTS": 10,
}

# Secrets (a Slack webhook's path is its password): from the environment only, never from a file.
ENVIRONMENT_ONLY = ("SCRAPERQ_ALERT_WEBHOOK", "SCRAPERQ_ALERT_SLACK_WEBHOOK")


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
        in_file = [key for key in ENVIRONMENT_ONLY if values.get(key)]
        if in_file:
            raise ConfigError(f"{in_file[0]} is set in {name}: it is a secret, set it in the environment only")
        values = {**DAEMON_DEFAULTS, **values}
        values.update(environment_overrides(values, environ))  # typed as scrapy sees them (scraperq/config.py)
        for secret in ENVIRONMENT_ONLY:
            values[secret] = environ.get(secret) or None
        values.update(overrides or {})
        return cls(values)

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
