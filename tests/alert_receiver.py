"""A webhook receiver on loopback for the alert tests: a real HTTP server in a thread of the test.

Each POST is recorded (path, headers, JSON body) and answered by the next step of
``plan``: a status code (``200``, ``500``...), ``(status, headers)``, or ``"hang"``
(hold the request, answer nothing, until the test ends). An empty plan answers 200.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    answer: int | str  # the status sent back, or "hang"

    @property
    def event_id(self) -> str:
        return self.headers.get("X-Scraperq-Event-Id", "")


@dataclass
class Receiver:
    plan: list[Any] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.hanging = threading.Event()  # set while a request is held
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with receiver._lock:
                    step = receiver.plan.pop(0) if receiver.plan else 200
                    status, extra = step if isinstance(step, tuple) else (step, {})
                    receiver.received.append(Received(self.path, dict(self.headers), json.loads(raw), status))
                if status == "hang":
                    receiver.hanging.set()
                    receiver._release.wait(120)  # the test's end releases it
                    self.close_connection = True
                    return
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain")
                text = b"ok" if status < 300 else b"receiver <failed> & said so"
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="alert-receiver", daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def bodies(self, event_type: str | None = None, *, answered: int | None = 200) -> list[Any]:
        """JSON bodies received (by default only those answered 200), optionally of one event type."""
        with self._lock:
            found = [r for r in self.received if answered is None or r.answer == answered]
        return [r.body for r in found if event_type is None or r.headers.get("X-Scraperq-Event-Type") == event_type]

    def requests_for(self, event_id: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.event_id == event_id]

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
