"""The HTTP server the API runs in, beside the daemon's loop in the same process.

Why waitress: the API's code is blocking (psycopg queries, Scrapyd calls through
``urllib`` with timeouts), exactly like the daemon it shares a process and a
connection pool with, so it runs on a pool of worker threads, as WSGI. But a
thread must never wait for a *client*: waitress reads every request whole with
an asynchronous loop (one thread, ``select``/``poll``) and hands it to a worker
only once it has arrived, and writes answers back the same way. A client that
connects and sends nothing, or half a request, or reads slowly, costs a socket
and a little memory, not a worker: fifty of them leave ``/healthz`` answering at
once. (A thread-per-connection server, as this was before, is taken away by as
many idle connections as it has threads.) It is pure Python, maintained, and
streams a body of unknown length with chunked encoding (the results export).
Werkzeug brings routing with 404/405 and request parsing. Neither is imported by
the crawl side, so the egg deployed to Scrapyd does not need them.

Limits: ``SCRAPERQ_API_MAX_BODY`` is enforced by the application (so a
too-large body gets a JSON 413); waitress itself refuses a body over four times
that (it reads a body before the application sees it), request headers over
64 KiB, and closes a connection idle for 30 seconds; past 1,000 open connections
it stops accepting until some close.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from waitress import wasyncore
from waitress.server import BaseWSGIServer, create_server

from scheduler.api.config import ApiConfig
from scraperq.errors import ConfigError

logger = logging.getLogger(__name__)

# Requests answered at once. Each may hold a pooled database connection while it runs.
THREADS = 8
MAX_HEADER_BYTES = 64 * 1024
IDLE_TIMEOUT = 30
MAX_CONNECTIONS = 1000


class ApiServer:
    """Serve a WSGI application on ``config``'s address in a background thread."""

    def __init__(self, app: Any, config: ApiConfig, *, threads: int = THREADS) -> None:
        self.app = app
        self.config = config
        self.threads = threads
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> ApiServer:
        """Bind now (a ConfigError names what went wrong), then serve in the background."""
        try:
            self._server = create_server(
                self.app,
                host=self.config.host,
                port=self.config.port,
                threads=self.threads,
                ident="scraperq",
                channel_timeout=IDLE_TIMEOUT,
                cleanup_interval=5,
                connection_limit=MAX_CONNECTIONS,
                max_request_header_size=MAX_HEADER_BYTES,
                max_request_body_size=4 * self.config.max_body,
                # Never trust X-Forwarded-* from a client; the daemon is not behind a proxy of its own.
                clear_untrusted_proxy_headers=True,
                expose_tracebacks=False,
                asyncore_use_poll=True,  # select() cannot watch descriptors above 1023
            )
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"cannot serve the API on {self.config.display_bind}: {reason}") from None
        self._thread = threading.Thread(target=self._serve, name="api-http", daemon=True)
        self._thread.start()
        logger.warning(
            "HTTP API on %s (%s)", self.url, "token required" if self.config.token else "no token: loopback only"
        )
        return self

    def _serve(self) -> None:
        try:
            self._server.run()
        except Exception:
            logger.exception("The HTTP API stopped")

    @property
    def address(self) -> tuple[str, int]:
        # One address, or several for a name such as localhost (then the first is shown).
        host, port = (
            self._server.effective_listen[0]
            if hasattr(self._server, "effective_listen")
            else (
                self._server.effective_host,
                self._server.effective_port,
            )
        )
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def stop(self) -> None:
        """Let requests in progress finish (up to 5 s), close every connection, and return."""
        if self._server is not None and self._thread is not None:
            self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
            # The loop's sockets are closed from inside the loop, through its trigger (a pipe it watches).
            sockets = getattr(self._server, "map", None) or self._server._map
            trigger = next(d.trigger for d in list(sockets.values()) if isinstance(d, BaseWSGIServer))
            trigger.pull_trigger(lambda: wasyncore.close_all(sockets))
            self._thread.join(timeout=10)
            self._thread = None
        close = getattr(self.app, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> ApiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
