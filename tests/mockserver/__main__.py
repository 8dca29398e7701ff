"""Entry point: ``python -m tests.mockserver``; see the package docstring for routes."""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.mockserver import pages, sources

HITS: Counter[str] = Counter()
KEY_HITS: Counter[str] = Counter()
# Every request in arrival order with its server-side monotonic time (for order and gap checks).
LOG: list[tuple[str, float]] = []
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mockserver/1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet by default
        pass

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if path not in ("/__hits__", "/__reset__", "/__log__"):
            with LOCK:
                HITS[self.path] += 1
                LOG.append((self.path, time.monotonic()))
        try:
            self.route(path, query)
        except BrokenPipeError:
            pass

    def route(self, path: str, query: dict[str, str]) -> None:
        base = f"http://{self.headers.get('Host')}"
        if path == "/__hits__":
            with LOCK:
                return self.send(200, json.dumps(dict(HITS)), "application/json")
        if path == "/__log__":
            with LOCK:
                return self.send(200, json.dumps(LOG), "application/json")
        if path == "/__reset__":
            with LOCK:
                HITS.clear()
                KEY_HITS.clear()
                LOG.clear()
                if "hits" not in query:
                    sources.DAY["n"] = 1
            return self.send(200, "{}", "application/json")
        if path == "/robots.txt":
            return self.send(200, "User-agent: *\nDisallow: /private/\n", "text/plain")
        if path == "/" or path.startswith("/site/"):
            return self.send(200, pages.site_page(path, query), "text/html; charset=utf-8")
        if path == "/article":
            return self.send(200, pages.ARTICLE, "text/html; charset=utf-8")
        if path == "/scope" or path.startswith("/scope/"):
            return self.send(200, pages.scope_page(self.headers.get("Host", ""), path), "text/html; charset=utf-8")
        if path == "/links":
            return self.send(200, pages.links_page(base), "text/html; charset=utf-8")
        if path == "/redirect":
            return self.send(302, "", "text/html", {"Location": query.get("to", "/article")})
        if path.startswith("/status/"):
            return self.send(int(path.rsplit("/", 1)[1]), "", "text/plain")
        if path.startswith("/flaky/"):
            hits = self.key_hit(path)
            if hits <= int(query.get("fail", "1")):
                return self.send(int(query.get("code", "500")), "try again", "text/plain")
            return self.send(200, pages.simple_page(f"Recovered {path}"), "text/html")
        if path.startswith("/retry-after/"):
            if self.key_hit(path) == 1:
                return self.send(429, "slow down", "text/plain", {"Retry-After": query.get("after", "1")})
            return self.send(200, pages.simple_page(f"After {path}"), "text/html")
        if path == "/slow":
            time.sleep(float(query.get("delay", "1")))
            return self.send(200, pages.simple_page(f"Slow {query.get('id', '')}"), "text/html")
        if path == "/file.pdf":
            return self.send(200, pages.PDF_BYTES, "application/pdf")
        if path == "/image.png":
            return self.send(200, pages.PNG_BYTES, "image/png")
        if path == "/data.json":
            return self.send(200, json.dumps({"hello": "world", "n": [1, 2, 3]}), "application/json")
        if path.startswith("/hostile/"):
            return self.hostile(path.removeprefix("/hostile/"), query)
        if sources.route(self, path, query):  # the per-source, feed, API and rendering fixtures
            return None
        return self.send(404, pages.simple_page("Not found"), "text/html")

    def hostile(self, case: str, query: dict[str, str]) -> None:
        """Responses a crawler must survive (tests/test_hostile.py)."""
        if case == "location":  # a redirect to whatever ?to= says, taken as it is
            self.send_response(302)
            self.send_header("Location", query.get("to", ""))
            self.send_header("Content-Length", "0")
            return self.end_headers()
        if case == "endless":  # /hostile/endless?n=1 -> n=2 -> ... for ever
            n = int(query.get("n", "0")) + 1
            return self.send(302, "", "text/html", {"Location": f"/hostile/endless?n={n}"})
        if case in ("loop-a", "loop-b"):
            other = "loop-b" if case == "loop-a" else "loop-a"
            return self.send(302, "", "text/html", {"Location": f"/hostile/{other}"})
        if case == "big":  # a Content-Length over the crawl's limit (the body never comes)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(int(query.get("size", "100000"))))
            self.end_headers()
            return self.wfile.write(b"<html>" + b" " * 1000)
        if case == "chunked":  # chunked, no length announced, past the limit
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b" " * 16384
            for _ in range(int(query.get("size", "100000")) // len(chunk) + 2):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            return self.wfile.write(b"0\r\n\r\n")
        if case == "gzip-bomb":  # small on the wire, large once inflated
            body = gzip.compress(b"<html>" + b" " * int(query.get("size", "100000")), compresslevel=9)
            return self.send(200, body, "text/html", {"Content-Encoding": "gzip"})
        if case == "stall":  # headers and half a body, then nothing
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "2000")
            self.end_headers()
            self.wfile.write(b"<html><body>" + b"x" * 988)
            self.wfile.flush()
            time.sleep(float(query.get("delay", "5")))
            return None
        if case == "links":  # a page whose links lead to every case above: ?to=path,path,...
            links = "".join(f'<a href="{target}">{target}</a>' for target in query.get("to", "").split(",") if target)
            return self.send(200, pages.simple_page("Links to trouble", links), "text/html")
        return self.send(404, pages.simple_page("No such case"), "text/html")

    def key_hit(self, path: str) -> int:
        with LOCK:
            KEY_HITS[path] += 1
            return KEY_HITS[path]

    def send(self, status: int, body: str | bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a crawler hanging up is no error
            super().handle_error(request, client_address)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address (a second site: 127.0.0.2)")
    args = parser.parse_args()
    server = Server((args.host, args.port), Handler)
    server.daemon_threads = True
    print(f"http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
