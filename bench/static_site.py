"""A fast static site for benchmarks: pages held in memory, served by asyncio on loopback.

``python bench/static_site.py --pages 3000`` prints its base URL and serves:
(``--hosts N`` serves N sites, on 127.0.0.2 to 127.0.0.N+1, one base URL a line, each
with its own counts; ``--latency S`` answers pages S seconds late, as a slower site):

``/p/N.html``   page N of P: about 3 KB of text, links to 2N+1 and 2N+2 (a tree that
                reaches every page), to the home page, to its parent and to three
                pseudo-random pages (so the crawl meets duplicates, as on a real site)
``/robots.txt`` allows everything
``/x/NAME``     a one-page site (no links): the arrival of each such path is kept
``/__seen__``   JSON ``{path: server monotonic time of its first hit}`` of the ``/x/`` pages
``/__stats__``  JSON ``{"pages": n, "first": t, "last": t}``: page hits and the server's
                monotonic time of the first and last one, for pages per second
``/__reset__``  forget the counts

``python bench/static_site.py --probe URL`` loads a running server flat out from one
asyncio client (16 keep-alive connections) for 3 seconds and prints requests per
second: what it can serve, to check the server is not what limits a crawl.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time

WORDS = (
    "river valley rain level officials expect water recede thursday weekend highest decade town bridge road "
    "school market council report weather north south east west morning evening people said local"
).split()


def build_pages(total: int) -> dict[str, bytes]:
    rng = random.Random(7)
    pages = {}
    for n in range(total):
        links = [c for c in (2 * n + 1, 2 * n + 2) if c < total]
        links += [0, (n - 1) // 2 if n else 0] + [rng.randrange(total) for _ in range(3)]
        anchors = " ".join(f'<a href="/p/{m}.html">Page {m}</a>' for m in links)
        text = " ".join(rng.choice(WORDS) for _ in range(450))
        html = (
            f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Page {n}</title>"
            f"<meta name='description' content='Page {n} of the benchmark site'></head><body>"
            f"<header><nav><a href='/p/0.html'>Home</a></nav></header><main><article><h1>Page {n}</h1>"
            f"<p>{text}</p><p>{anchors}</p></article></main><footer>Benchmark site</footer></body></html>"
        )
        pages[f"/p/{n}.html"] = _response(200, html.encode(), "text/html; charset=utf-8")
    pages["/robots.txt"] = _response(200, b"User-agent: *\nAllow: /\n", "text/plain")
    return pages


def _response(status: int, body: bytes, ctype: str) -> bytes:
    reason = {200: "OK", 404: "Not Found"}[status]
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


NOT_FOUND = _response(404, b"not found", "text/plain")
ONE_PAGE = _response(200, b"<html><head><title>One page</title></head><body><p>Alone.</p></body></html>", "text/html")


class Counts:
    def __init__(self) -> None:
        self.hits, self.first, self.last = 0, 0.0, 0.0


class Site(asyncio.Protocol):
    pages: dict[str, bytes] = {}
    latency = 0.0
    counts: dict[str, Counts] = {}  # by the address the site is served on
    seen: dict[str, float] = {}  # /x/ pages: first arrival

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buffer = b""
        host = transport.get_extra_info("sockname")[0]
        self.count = type(self).counts.setdefault(host, Counts())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            path = head.split(b" ", 2)[1].decode("latin-1")
            answer = self.answer(path)
            if self.latency and path.startswith("/p/"):
                asyncio.get_running_loop().call_later(self.latency, self._write, answer)
            else:
                self.transport.write(answer)  # type: ignore[attr-defined]

    def _write(self, data: bytes) -> None:
        if not self.transport.is_closing():  # type: ignore[attr-defined]
            self.transport.write(data)  # type: ignore[attr-defined]

    def answer(self, path: str) -> bytes:
        cls, count = type(self), self.count
        if path.startswith("/p/"):
            now = time.monotonic()
            count.hits += 1
            count.first = count.first or now
            count.last = now
            return cls.pages.get(path, NOT_FOUND)
        if path.startswith("/x/"):
            cls.seen.setdefault(path, time.monotonic())
            return ONE_PAGE
        if path == "/__seen__":
            return _response(200, json.dumps(cls.seen).encode(), "application/json")
        if path == "/__stats__":
            stats = {"pages": count.hits, "first": count.first, "last": count.last}
            return _response(200, json.dumps(stats).encode(), "application/json")
        if path == "/__reset__":
            count.hits, count.first, count.last = 0, 0.0, 0.0
            cls.seen.clear()
            return _response(200, b"{}", "application/json")
        return cls.pages.get(path, NOT_FOUND)


async def serve(pages: int, hosts: int = 0, latency: float = 0.0) -> None:
    Site.pages = build_pages(pages)
    Site.latency = latency
    loop = asyncio.get_running_loop()
    addresses = [f"127.0.0.{n}" for n in range(2, hosts + 2)] if hosts else ["127.0.0.1"]
    server = await loop.create_server(Site, addresses[0], 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    servers = [server] + [await loop.create_server(Site, a, port, backlog=1024) for a in addresses[1:]]
    for address in addresses:
        print(f"http://{address}:{port}", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


async def probe(base: str, seconds: float = 3.0, connections: int = 16) -> float:
    host, port = base.split("//", 1)[1].split(":")
    done = 0
    deadline = time.monotonic() + seconds

    async def client(index: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(host, int(port))
        n = index
        while time.monotonic() < deadline:
            writer.write(f"GET /p/{n % 1000}.html HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0])
            await reader.readexactly(length)
            done += 1
            n += connections
        writer.close()

    start = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(connections)))
    return done / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--probe", metavar="URL")
    parser.add_argument("--hosts", type=int, default=0, help="serve this many sites, on 127.0.0.2 and up")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before a page is answered")
    args = parser.parse_args()
    if args.probe:
        print(f"{asyncio.run(probe(args.probe)):.0f}")
        return
    try:
        asyncio.run(serve(args.pages, args.hosts, args.latency))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
