"""A fork server for the tests: ``scrapy`` and ``scraperq`` processes without paying their imports each time.

A ``scrapy crawl`` spends about 2 s of CPU importing Scrapy, Twisted, Playwright, redis and
psycopg, and a fraction of that crawling the mock server. This server imports those
third-party packages once and forks a child for each command, which then runs the command's
console-script entry point (``scrapy.cmdline:execute``, ``scraperq.cli:main``) with its own
arguments, environment, working folder and standard streams, and exits as the command would.
A child is a real process (its own pid, signals, ``kill -9``, its own Twisted reactor and
asyncio loop): only the imports of packages outside this project are done ahead of time.
Nothing of the project (``scraperq``, ``scheduler``, the settings that read the environment)
is imported here, so each child imports it afresh under its own environment.

Protocol, on a Unix SOCK_SEQPACKET socket, one connection per child: the client sends one
JSON message ``{"args", "env", "cwd"}`` (and ``"module"`` for ``python -m MODULE ARGS``, as
tests/scrapyd_runner.py asks) with three file descriptors (stdin, stdout, stderr);
the server answers ``{"pid": N}`` once forked and ``{"returncode": N}`` once the child has
ended (negative: killed by that signal, as ``subprocess`` reports it). A client that closes
its connection first has its child killed. The server exits when its standard input closes
(the test process that started it has gone), killing any child still running.

Run as ``python -m tests.forkserver SOCKET_PATH``; ``tests.helpers.spawn`` starts and uses it.
"""

from __future__ import annotations

import compileall
import importlib
import json
import os
import runpy
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import threading
from importlib.metadata import entry_points
from typing import Any

# Third-party modules a crawl, a Scrapyd call or a scheduler daemon imports; never the
# project's own, never twisted.internet.reactor (each child installs the reactor it wants).
PRELOAD = (
    "scrapy.cmdline", "scrapy.crawler", "scrapy.core.engine", "scrapy.core.scheduler", "scrapy.core.scraper",
    "scrapy.core.downloader", "scrapy.core.downloader.handlers.http11", "scrapy.http", "scrapy.spiders",
    "scrapy.spiderloader", "scrapy.linkextractors", "scrapy.robotstxt", "scrapy.utils.project", "scrapy.utils.log",
    "scrapy.commands.crawl", "scrapy.commands.list", "scrapy.commands.settings", "scrapy.pipelines",
    "scrapy.extensions.logstats", "scrapy.extensions.corestats", "scrapy.extensions.memusage",
    "scrapy.extensions.closespider", "scrapy.extensions.throttle", "scrapy.downloadermiddlewares.retry",
    "scrapy.downloadermiddlewares.robotstxt", "scrapy.downloadermiddlewares.httpcompression",
    "scrapy.downloadermiddlewares.redirect", "scrapy.downloadermiddlewares.httpproxy",
    "scrapy.downloadermiddlewares.offsite", "scrapy.spidermiddlewares.depth",
    "twisted.internet.asyncioreactor", "scrapy_playwright.handler", "playwright.async_api",
    "scrapy.commands.bench", "scrapy.commands.check", "scrapy.commands.edit", "scrapy.commands.fetch",
    "scrapy.commands.genspider", "scrapy.commands.parse", "scrapy.commands.runspider", "scrapy.commands.shell",
    "scrapy.commands.startproject", "scrapy.commands.version", "scrapy.commands.view", "scrapy.contracts",
    "scrapy.downloadermiddlewares.cookies", "scrapy.downloadermiddlewares.defaultheaders",
    "scrapy.downloadermiddlewares.downloadtimeout", "scrapy.downloadermiddlewares.httpauth",
    "scrapy.downloadermiddlewares.httpcache", "scrapy.downloadermiddlewares.stats",
    "scrapy.downloadermiddlewares.useragent", "scrapy.extensions.logcount", "scrapy.extensions.memdebug",
    "scrapy.extensions.remote_control", "scrapy.extensions.spiderstate", "scrapy.http.cookies", "scrapy.logformatter",
    "scrapy.pqueues", "scrapy.spidermiddlewares.httperror", "scrapy.spidermiddlewares.metacopy",
    "scrapy.spidermiddlewares.start", "scrapy.spidermiddlewares.urllength", "scrapy.squeues", "scrapy.statscollectors",
    "scrapy.utils.template", "scrapy.utils.test", "scrapy_playwright.provider", "resource",
    "scrapy.utils._remote_control", "scrapy.extensions.telnet", "scrapy.shell", "scrapy.dupefilters",
    "scrapy_redis", "queuelib", "platformdirs", "sqlite3", "unittest", "aiohttp.web",
    "redis", "redis.asyncio", "psycopg", "psycopg_pool", "lxml.html", "parsel", "tldextract", "yaml", "jmespath",
    "itemadapter", "aiohttp", "apscheduler.schedulers.background", "waitress.server", "werkzeug", "requests",
    "pkg_resources", "scrapyd.runner",  # Scrapyd's job runner (tests/scrapyd_runner.py)
)  # fmt: skip

MAX_MESSAGE = 1 << 20


def compile_project(cache: str) -> None:
    """Compile the project's modules once, into ``cache``, for every child to load.

    Where bytecode is not written (PYTHONDONTWRITEBYTECODE, as on the development machines),
    each child would compile every project module it imports; a ``sys.pycache_prefix``
    set here is inherited by the children, and checked against the sources as usual.
    """
    sys.pycache_prefix = cache
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for package in ("scraperq", "scheduler"):
        compileall.compile_dir(os.path.join(root, package), quiet=2)


def preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional part missing: the child imports what it needs itself
            continue
    if "twisted.internet.reactor" in sys.modules:
        raise RuntimeError("a preloaded module installed a Twisted reactor; the children could not choose theirs")
    if threading.active_count() != 1:
        raise RuntimeError("a preloaded module started a thread; forking would leave it behind in every child")


def send(conn: socket.socket, message: dict[str, Any]) -> None:
    try:
        conn.send(json.dumps(message).encode())
    except OSError:  # the client has gone; its child is killed when the server sees the hang-up
        pass


def returncode(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def serve(path: str) -> dict[str, Any]:
    """Fork a child per request until standard input closes; return the request, in the child."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    wake_read, wake_write = socket.socketpair()
    wake_read.setblocking(False)
    wake_write.setblocking(False)
    signal.set_wakeup_fd(wake_write.fileno())
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the selector
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_read, selectors.EVENT_READ, "wake")
    selector.register(sys.stdin, selectors.EVENT_READ, "parent")
    children: dict[int, socket.socket] = {}  # pid -> its client's connection
    print("ready", flush=True)

    while True:
        for key, _ in selector.select():
            if key.data == "accept":
                conn, _ = listener.accept()
                selector.register(conn, selectors.EVENT_READ, "request")
            elif key.data == "wake":
                try:
                    while wake_read.recv(4096):
                        pass
                except BlockingIOError:
                    pass
            elif key.data == "parent":
                if not os.read(sys.stdin.fileno(), 4096):  # the test process has gone
                    for pid in children:
                        os.kill(pid, signal.SIGKILL)
                    sys.exit(0)
            else:
                conn = key.fileobj
                assert isinstance(conn, socket.socket)
                try:
                    data, fds, _, _ = socket.recv_fds(conn, MAX_MESSAGE, 3)
                except OSError:
                    data, fds = b"", []
                if not data:  # the client hung up: its child, if still running, goes too
                    selector.unregister(conn)
                    for pid, owner in children.items():
                        if owner is conn:
                            os.kill(pid, signal.SIGKILL)
                    if conn not in children.values():
                        conn.close()
                    continue
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    for sock in (listener, wake_read, wake_write, *children.values()):
                        sock.close()
                    signal.set_wakeup_fd(-1)
                    for number, fd in enumerate(fds):
                        os.dup2(fd, number)
                        os.close(fd)
                    conn.close()
                    return json.loads(data)
                for fd in fds:
                    os.close(fd)
                children[pid] = conn
                send(conn, {"pid": pid})
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = children.pop(pid)
            send(conn, {"returncode": returncode(status)})
            try:
                selector.unregister(conn)
            except (KeyError, ValueError):
                pass
            conn.close()


def run_child(request: dict[str, Any]) -> None:
    """Become the command: its environment, folder, arguments, and its console script or ``-m`` module."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the handlers a fresh interpreter starts with
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    # A fresh interpreter puts PYTHONPATH's folders after its own first entry: so does the child.
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in sys.path]
    sys.path[1:1] = extra
    args = request["args"]
    if "module" in request:  # python -m MODULE ARGS: the folder it runs in first on sys.path
        sys.argv = ["-m", *args]
        sys.path[0] = request["cwd"]
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        return
    sys.argv = [args[0], *args[1:]]
    sys.path[0] = os.path.dirname(args[0])  # where a console script's own folder stands
    name = os.path.basename(args[0])
    [entry] = [ep for ep in entry_points(group="console_scripts") if ep.name == name]
    sys.exit(entry.load()())


def main() -> None:
    preload()
    cache = tempfile.mkdtemp(prefix="scraperq-pycache-")
    try:
        compile_project(cache)
        request = serve(sys.argv[1])  # returns only in a child
    except BaseException:  # the server ends: SystemExit once its parent has gone
        shutil.rmtree(cache, ignore_errors=True)
        raise
    run_child(request)


if __name__ == "__main__":
    main()
