"""The HTTP server the API runs in, beside the daemon's loop in the same process.

Why Cheroot + Werkzeug (WSGI) rather than an ASGI stack: everything the API
does is blocking (psycopg queries, Scrapyd calls through ``urllib`` with
timeouts), exactly like the daemon it shares a process and a connection pool
with. A thread-pooled WSGI server runs that code as it is; an event loop would
only push it back onto threads. Cheroot (CherryPy's server, pure Python,
maintained) is a production server made to be embedded: ``prepare()`` binds
and fails at once (port taken, address unknown), ``serve()`` runs in a thread
of ours, ``stop()`` ends it from another, which is what a daemon that stops on
SIGTERM needs. It streams a body of unknown length with chunked encoding (the
results export). Werkzeug brings routing with 404/405 and request parsing.
Neither is imported by the crawl side, so the egg deployed to Scrapyd does not
need them.

Limits: ``SCRAPERQ_API_MAX_BODY`` is enforced by the application (so a
too-large body gets a JSON 413 before it is read); Cheroot caps request
headers at 64 KiB and closes a connection idle for 30 seconds.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from cheroot import wsgi

from scheduler.api.config import ApiConfig
from scraperq.errors import ConfigError

logger = logging.getLogger(__name__)

# Requests answered at once. Each may hold a pooled database connection while it runs.
THREADS = 8
MAX_HEADER_BYTES = 64 * 1024
IDLE_TIMEOUT = 30


class _Server(wsgi.Server):
    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        # Cheroot's messages are about sockets and protocol errors; never request headers.
        logger.log(level, "%s", msg, exc_info=traceback)


class ApiServer:
    """Serve a WSGI application on ``config``'s address in a background thread."""

    def __init__(self, app: Any, config: ApiConfig, *, threads: int = THREADS) -> None:
        self.app = app
        self.config = config
        self._server = _Server(
            (config.host, config.port),
            app,
            numthreads=threads,
            server_name="scraperq",
            timeout=IDLE_TIMEOUT,
            shutdown_timeout=5,
        )
        self._server.max_request_header_size = MAX_HEADER_BYTES
        self._server.max_request_body_size = 0  # the application enforces SCRAPERQ_API_MAX_BODY, with a JSON 413
        self._thread: threading.Thread | None = None

    def start(self) -> ApiServer:
        """Bind now (a ConfigError names what went wrong), then serve in the background."""
        try:
            self._server.prepare()
        except OSError as exc:
            reason = str(exc).rsplit("-- ", 1)[-1].strip(" ()")
            raise ConfigError(f"cannot serve the API on {self.config.display_bind}: {reason}") from None
        self._thread = threading.Thread(target=self._serve, name="api-http", daemon=True)
        self._thread.start()
        logger.warning(
            "HTTP API on %s (%s)", self.url, "token required" if self.config.token else "no token: loopback only"
        )
        return self

    def _serve(self) -> None:
        try:
            self._server.serve()
        except Exception:
            logger.exception("The HTTP API stopped")

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.bind_addr[:2]
        return host, int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop accepting, let requests in progress finish (up to 5 s), and return."""
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        close = getattr(self.app, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> ApiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
