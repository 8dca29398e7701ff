"""The HTTP API's configuration: where it listens, the token it demands, how much it reads.

Settings (each overridden by an environment variable of the same name):

``SCRAPERQ_API_BIND``
    ``host:port`` (``[::1]:6810`` for IPv6); default ``127.0.0.1:6810``. Port 0
    picks a free port (the log line says which).
``SCRAPERQ_API_TOKEN``
    Bearer token. Unset: no authentication, allowed only on a loopback address
    (``127.0.0.0/8``, ``::1``, ``localhost``); anywhere else the daemon refuses to
    start. Set: every route but ``/healthz`` needs it. It comes only from the
    environment or settings and never appears in a log line or a ``repr``.
``SCRAPERQ_API_MAX_BODY``
    Largest request body read, in bytes (default 4 MiB: 10,000 URLs of 400 characters in one
    ``POST /api/tasks``); larger ones get 413.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from scraperq.errors import ConfigError

DEFAULT_BIND = "127.0.0.1:6810"
DEFAULT_MAX_BODY = 4 * 1024 * 1024


@dataclass(frozen=True)
class ApiConfig:
    host: str
    port: int
    token: str | None = field(default=None, repr=False)
    max_body: int = DEFAULT_MAX_BODY

    @classmethod
    def from_settings(cls, settings: Any) -> ApiConfig:
        bind = str(settings.get("SCRAPERQ_API_BIND") or DEFAULT_BIND).strip()
        host, port = parse_bind(bind)
        token = settings.get("SCRAPERQ_API_TOKEN")
        token = str(token) if token else None
        if token is not None and (token != token.strip() or not token.isprintable()):
            raise ConfigError("SCRAPERQ_API_TOKEN has surrounding spaces or control characters")
        if token is None and not is_loopback(host):
            raise ConfigError(
                f"SCRAPERQ_API_TOKEN must be set to serve the API on {bind}, which is not a loopback address"
            )
        raw_max = settings.get("SCRAPERQ_API_MAX_BODY", DEFAULT_MAX_BODY)
        try:
            max_body = int(raw_max)
        except (TypeError, ValueError):
            raise ConfigError(f"SCRAPERQ_API_MAX_BODY={raw_max!r} is not a whole number of bytes") from None
        if max_body < 1024:
            raise ConfigError(f"SCRAPERQ_API_MAX_BODY={raw_max!r} must be at least 1024 bytes")
        return cls(host=host, port=port, token=token, max_body=max_body)

    @property
    def display_bind(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_bind(bind: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> (host, port); ConfigError naming the problem."""
    host, sep, port_text = bind.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"SCRAPERQ_API_BIND={bind!r}: write it as host:port, e.g. 127.0.0.1:6810")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"SCRAPERQ_API_BIND={bind!r}: put an IPv6 address in brackets, e.g. [::1]:6810")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"SCRAPERQ_API_BIND={bind!r}: the port must be a number from 0 to 65535")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """True only for addresses that cannot be reached from another machine.

    A name other than ``localhost`` counts as not loopback: what it resolves to
    can change, and a token is cheap compared with an open API.
    """
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
