"""What the alerting reads from the settings (defaults in :data:`scheduler.settings.DAEMON_DEFAULTS`).

``SCRAPERQ_ALERT_WEBHOOK``
    URL that receives every event as JSON (README: Alerts). From the environment only.
``SCRAPERQ_ALERT_SLACK_WEBHOOK``
    A Slack (or Slack-compatible: Mattermost, Rocket.Chat) incoming webhook; gets ``{"text": ...}``.
    From the environment only: its path is its password.
``SCRAPERQ_CONSOLE_URL``
    The console's address, for the ``link`` of each event.
``SCRAPERQ_ALERT_FAILURES_IN_A_ROW``, ``SCRAPERQ_ALERT_EMPTY_RUNS``
    When a schedule's failures and empty runs raise an event; a schedule's own settings of the same
    names win over these.
``SCRAPERQ_ALERT_DEAD_LETTERS``, ``SCRAPERQ_ALERT_NODE_DOWN_AFTER``, ``SCRAPERQ_ALERT_INTERVAL``
    Dead letters that raise an event; how long a node stays unreachable before it is down; how often
    the leading daemon looks.
``SCRAPERQ_ALERT_TIMEOUT``, ``SCRAPERQ_ALERT_RETRY_BACKOFF``, ``SCRAPERQ_ALERT_RETRY_MAX_DELAY``,
``SCRAPERQ_ALERT_MAX_ATTEMPTS``
    One delivery's time limit, and the retries of a failed one.

Events are raised and recorded (the console shows them) whether or not a webhook is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from scheduler.settings import DAEMON_DEFAULTS
from scraperq.config import parse_bool
from scraperq.errors import ConfigError

# Destination name -> the setting holding its URL.
DESTINATION_SETTINGS = {"webhook": "SCRAPERQ_ALERT_WEBHOOK", "slack": "SCRAPERQ_ALERT_SLACK_WEBHOOK"}


def redact_webhook(url: str) -> str:
    """The URL as logs may show it: scheme, host and port. A webhook's path and query are its secret
    (Slack: ``/services/T000/B000/XXXX``), and so are credentials before the host."""
    try:
        parts = urlsplit(url)
    except ValueError:  # a '[' where no IPv6 address can be: show nothing of it
        return f"{url.partition('://')[0][:10]}://***"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    rest = "/***" if (parts.path.strip("/") or parts.query) else ""
    return f"{parts.scheme}://{host}{port}{rest}"


@dataclass(frozen=True)
class Destination:
    name: str  # webhook | slack: alert_deliveries.destination
    url: str = field(repr=False)

    @property
    def shown(self) -> str:
        return redact_webhook(self.url)


@dataclass(frozen=True)
class AlertConfig:
    destinations: tuple[Destination, ...] = ()
    console_url: str | None = None
    failures_in_a_row: int = 3
    empty_runs: bool = True
    dead_letters: int = 100
    node_down_after: float = 30.0
    interval: float = 5.0
    timeout: float = 10.0
    retry_backoff: float = 5.0
    retry_max_delay: float = 600.0
    max_attempts: int = 10

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> AlertConfig:
        destinations = []
        for name, setting in DESTINATION_SETTINGS.items():
            url = str(settings.get(setting) or "").strip()
            if url:
                destinations.append(Destination(name, _checked_url(setting, url)))
        console = str(settings.get("SCRAPERQ_CONSOLE_URL") or "").strip() or None
        if console is not None:
            _checked_url("SCRAPERQ_CONSOLE_URL", console)
        return cls(
            destinations=tuple(destinations),
            console_url=console,
            failures_in_a_row=_number(settings, "SCRAPERQ_ALERT_FAILURES_IN_A_ROW", int, zero=True),
            empty_runs=flag(_get(settings, "SCRAPERQ_ALERT_EMPTY_RUNS"), "SCRAPERQ_ALERT_EMPTY_RUNS"),
            dead_letters=_number(settings, "SCRAPERQ_ALERT_DEAD_LETTERS", int, zero=True),
            node_down_after=_number(settings, "SCRAPERQ_ALERT_NODE_DOWN_AFTER", float, zero=True),
            interval=_number(settings, "SCRAPERQ_ALERT_INTERVAL", float),
            timeout=_number(settings, "SCRAPERQ_ALERT_TIMEOUT", float),
            retry_backoff=_number(settings, "SCRAPERQ_ALERT_RETRY_BACKOFF", float),
            retry_max_delay=_number(settings, "SCRAPERQ_ALERT_RETRY_MAX_DELAY", float),
            max_attempts=_number(settings, "SCRAPERQ_ALERT_MAX_ATTEMPTS", int),
        )

    def retry_delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed try: the backoff, doubled each time, capped."""
        return min(self.retry_max_delay, self.retry_backoff * 2 ** max(0, min(attempts - 1, 40)))

    def failures_for(self, schedule_settings: Mapping[str, Any]) -> int:
        """A schedule's own ``SCRAPERQ_ALERT_FAILURES_IN_A_ROW``, else the global one."""
        own = schedule_settings.get("SCRAPERQ_ALERT_FAILURES_IN_A_ROW")
        try:
            return max(0, int(str(own).strip())) if own is not None else self.failures_in_a_row
        except ValueError:
            return self.failures_in_a_row

    def empty_runs_for(self, schedule_settings: Mapping[str, Any]) -> bool:
        """A schedule's own ``SCRAPERQ_ALERT_EMPTY_RUNS``, else the global one."""
        own = schedule_settings.get("SCRAPERQ_ALERT_EMPTY_RUNS")
        try:
            return self.empty_runs if own is None else flag(own, "SCRAPERQ_ALERT_EMPTY_RUNS")
        except ConfigError:
            return self.empty_runs


def flag(value: Any, name: str) -> bool:
    return value if isinstance(value, bool) else parse_bool(name, str(value))


def _checked_url(setting: str, url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ConfigError(f"{setting} is not a URL that can be read: {redact_webhook(url)!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{setting} must be an http(s) URL, got {redact_webhook(url)!r}")
    try:
        _ = parts.port  # urlsplit checks the port only when asked
    except ValueError:
        raise ConfigError(f"{setting} has an invalid port: {redact_webhook(url)!r}") from None
    return url


def _number(settings: Mapping[str, Any], name: str, kind: type, *, zero: bool = False) -> Any:
    raw = _get(settings, name)
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < 0 or (value == 0 and not zero) or value != value:
        raise ConfigError(f"{name}={raw!r} must be {'0 or more' if zero else 'more than 0'}")
    return value


def _get(settings: Mapping[str, Any], name: str) -> Any:
    return settings.get(name, DAEMON_DEFAULTS[name])
