"""Helpers for tests: the mock server process and real command runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class MockServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.mockserver", "--host", host],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError("mock server did not start")

    def __call__(self, path: str) -> str:
        return self.url + path

    def hits(self) -> dict[str, int]:
        import json
        import urllib.request

        with urllib.request.urlopen(self.url + "/__hits__", timeout=5) as resp:
            return json.load(resp)

    def log(self) -> list[tuple[str, float]]:
        """Each request the server received, in order, with its server-side monotonic time."""
        import json
        import urllib.request

        with urllib.request.urlopen(self.url + "/__log__", timeout=5) as resp:
            return [(path, when) for path, when in json.load(resp)]

    def reset(self) -> None:
        """Forget the hits and put the fixture sites back in their first state."""
        import urllib.request

        urllib.request.urlopen(self.url + "/__reset__", timeout=5).close()

    def reset_hits(self) -> None:
        """Forget the hits only."""
        import urllib.request

        urllib.request.urlopen(self.url + "/__reset__?hits=1", timeout=5).close()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


# -- running the real commands ---------------------------------------------------------------


def crawl_env(database_url: str, **extra: str) -> dict[str, str]:
    """Environment for a crawl of the loopback mock server: fast retries, no robots wait."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCRAPERQ_", "SCRAPY_"))}
    env.pop("REDIS_URL", None)
    # A proxy from the machine's environment would carry loopback crawls elsewhere.
    for name in [k for k in env if k.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")]:
        del env[name]
    env.update(
        {
            "DATABASE_URL": database_url,
            "SCRAPERQ_ALLOW_PRIVATE": "127.0.0.0/8",
            "SCRAPERQ_RETRY_BACKOFF": "0.2",
            "SCRAPERQ_BATCH_SECONDS": "0.2",
            # A `scraperq scheduler` serves its HTTP API on a free port, so daemons run side by side.
            "SCRAPERQ_API_BIND": "127.0.0.1:0",
            "PYTHONPATH": str(ROOT),
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], *, timeout: float = 120, stdin: str | None = None) -> Any:
    """Run a real executable from the project folder and capture its output as text.

    For the end-to-end tests of the commands as installed; ``scrapy`` and ``scraperq`` runs that
    only need a process of their own go through :func:`scrapy` and :func:`scraperq`, which are faster.
    """
    return subprocess.run(
        args, cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )


# -- scrapy: real processes, forked from a server that has done the imports ----------------------


class Spawned:
    """A command run as a child of the test fork server (tests/forkserver.py), used like ``subprocess.Popen``.

    It is a real process of its own (pid, signals, exit status); only the imports of
    third-party packages were done before it forked. ``stdout``/``stderr`` take a file,
    ``subprocess.PIPE`` (read with :meth:`communicate`), ``subprocess.STDOUT`` (stderr
    only) or None (this process's own). The child is killed if this object is dropped
    while it still runs.
    """

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        *,
        cwd: Path = ROOT,
        stdin: str | None = None,
        stdout: Any = None,
        stderr: Any = None,
    ) -> None:
        import json
        import socket
        import tempfile

        self.args, self.returncode = args, None
        self._captured: list[Any] = []
        stdin_file = tempfile.TemporaryFile()
        stdin_file.write((stdin or "").encode())
        stdin_file.seek(0)
        out = self._target(stdout, 1)
        err = out if stderr == subprocess.STDOUT else self._target(stderr, 2)
        self._conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._conn.connect(fork_server())
        request = {"args": [str(a) for a in args], "env": env, "cwd": str(cwd)}
        socket.send_fds(self._conn, [json.dumps(request).encode()], [stdin_file.fileno(), out, err])
        stdin_file.close()
        self.pid: int = self._receive()["pid"]

    def _target(self, stream: Any, default: int) -> int:
        import tempfile

        if stream is None:
            return default
        if stream == subprocess.PIPE:
            self._captured.append(tempfile.TemporaryFile())
            return self._captured[-1].fileno()
        return stream if isinstance(stream, int) else stream.fileno()

    def _receive(self) -> dict[str, Any]:
        import json

        message = self._conn.recv(4096)
        if not message:
            raise RuntimeError("the test fork server went away")
        return json.loads(message)

    def poll(self) -> int | None:
        import select

        if self.returncode is None and select.select([self._conn], [], [], 0)[0]:
            self.returncode = self._receive()["returncode"]
            self._conn.close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        import select

        if self.returncode is None:
            if not select.select([self._conn], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self.poll()
        assert self.returncode is not None
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[str | None, str | None]:
        """Wait for the end; the text of the streams given as PIPE (None for the others)."""
        self.wait(timeout)
        texts = []
        for captured in self._captured:
            captured.seek(0)
            texts.append(captured.read().decode(errors="replace"))
            captured.close()
        self._captured = []
        return (texts + [None, None])[0], (texts + [None, None])[1]

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        import signal

        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        import signal

        self.send_signal(signal.SIGKILL)


_server: dict[str, Any] = {}


def fork_server() -> str:
    """The socket of this test process's fork server, started on first use."""
    import atexit
    import tempfile

    if "socket" not in _server:
        folder = tempfile.mkdtemp(prefix="scraperq-forkserver-")
        path = os.path.join(folder, "socket")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.forkserver", path], cwd=ROOT, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the test fork server did not start")

        def stop() -> None:
            assert proc.stdin is not None
            proc.stdin.close()  # the server kills what still runs and exits
            proc.wait(timeout=30)
            for name in os.listdir(folder):
                os.unlink(os.path.join(folder, name))
            os.rmdir(folder)

        atexit.register(stop)
        _server.update(socket=path, proc=proc)
    return str(_server["socket"])


def spawn(args: list[str], env: dict[str, str], **streams: Any) -> Spawned:
    """Start ``scrapy ...`` or ``scraperq ...`` (``args[0]`` the executable in BIN) as a fast-starting process."""
    return Spawned(args, env, **streams)


def run_forked(args: list[str], env: dict[str, str], *, timeout: float = 120, stdin: str | None = None) -> Any:
    """Like :func:`run`, for ``scrapy``/``scraperq`` (``args[0]`` in BIN), as a fast-starting process of its own."""
    proc = Spawned(args, env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def scrapy(args: list[str], env: dict[str, str], *, timeout: float = 120, stdin: str | None = None) -> Any:
    """``scrapy ARGS`` run to its end as a process of its own; output captured as text, like :func:`run`."""
    return run_forked([str(BIN / "scrapy"), *args], env, timeout=timeout, stdin=stdin)


def crawl(database_url: str, spider: str, *spider_args: str, timeout: float = 120, **env: str) -> Any:
    """``scrapy crawl SPIDER -a k=v ...`` as a process of its own; returns the finished process."""
    args = ["crawl", spider]
    for arg in spider_args:
        args += ["-a", arg]
    return scrapy(args, crawl_env(database_url, **env), timeout=timeout)


# -- scraperq: the command run in this process ---------------------------------------------------


def scraperq(database_url: str, *args: str, stdin: str | None = None, **env: str) -> Any:
    """``scraperq ARGS`` run in this process (see :func:`cli`), with the crawl environment for this database."""
    return cli(list(args), crawl_env(database_url, **env), stdin=stdin)


def scraperq_process(database_url: str, *args: str, stdin: str | None = None, timeout: float = 60, **env: str) -> Any:
    """``scraperq ARGS`` as the installed executable: for the few end-to-end tests of the real command."""
    return run([str(BIN / "scraperq"), *args], crawl_env(database_url, **env), timeout=timeout, stdin=stdin)


def cli(argv: list[str], env: dict[str, str], *, stdin: str | None = None) -> Any:
    """``scraperq.cli.main(argv)`` as the ``scraperq`` executable would run it, in this process.

    For the time of the call the process has exactly ``env`` as its environment, the project
    folder as its working folder, ``stdin`` as standard input and fresh standard output and
    error, whose text is returned with the exit status (``SystemExit`` included, as argparse
    raises it) in a ``subprocess.CompletedProcess``. What the command reads once per process
    is read again: the settings module and the logging
    set-up (``main`` configures the root logger, as in a fresh interpreter). All of it is put
    back afterwards. Exceptions the command does not handle propagate, as a traceback would.
    """
    import io
    import logging

    from scraperq.cli import main

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(ROOT)
        _forget_per_process_state()
        sys.stdin = io.TextIOWrapper(io.BytesIO((stdin or "").encode()), encoding="utf-8")
        sys.stdout, sys.stderr = out, err
        root.handlers = []
        try:
            code = main(argv)
        except SystemExit as exc:
            code = _exit_status(exc.code, err)
    finally:
        for handler in root.handlers:
            if handler not in saved_handlers:
                handler.close()
        root.handlers, root.level = saved_handlers, saved_level
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        _forget_per_process_state()
    texts = [stream.buffer.getvalue().decode() for stream in (out, err)]  # type: ignore[attr-defined]
    return subprocess.CompletedProcess(["scraperq", *argv], code, *texts)


def _exit_status(code: Any, stderr: Any) -> int:
    """The exit status ``sys.exit(code)`` gives a process: None is 0, a message is printed and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=stderr)
    return 1


def _forget_per_process_state() -> None:
    # A test may point SCRAPY_SETTINGS_MODULE elsewhere or edit the module: import it anew.
    sys.modules.pop("scraperq.settings", None)


def wait_for(predicate: Any, timeout: float = 30, interval: float = 0.1, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)


# -- Scrapyd nodes -----------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_egg(workdir: Path) -> Path:
    """The project egg, built by ``scrapyd-deploy --build-egg`` from a copy of the project."""
    import shutil

    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("scraperq", "scheduler"):
        shutil.copytree(ROOT / package, workdir / package, ignore=ignore)
    for name in ("scrapy.cfg", "setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, workdir / name)
    egg = workdir / "scraperq.egg"
    # scrapyd-deploy --build-egg leaves its build folder behind: keep it inside workdir.
    env = {**os.environ, "TMPDIR": str(workdir)}
    args = [str(BIN / "scrapyd-deploy"), "--build-egg", str(egg)]
    subprocess.run(args, cwd=workdir, env=env, check=True, capture_output=True)
    return egg


class RedisServer:
    """A private ``redis-server`` on a free loopback port with its folder: for tests that stop or restart
    Redis, and for a test run that finds every shared Redis db claimed by others."""

    def __init__(self, folder: Path, *options: str) -> None:
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.args = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(folder),
            "--save", "", "--appendonly", "no", *options,
        ]  # fmt: skip
        self.log = open(folder / "redis.log", "ab")  # noqa: SIM115 - open for the server's lifetime
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self.pings, timeout=10, message=f"redis-server on port {self.port}")

    def pings(self) -> bool:
        import redis

        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited; see {self.folder / 'redis.log'}")
        try:
            with redis.Redis(port=self.port, socket_timeout=5) as client:
                return bool(client.ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=15)
        self.log.close()


class ScrapydNode:
    """A real Scrapyd process running deploy/scrapyd.conf in its own folder, on a free loopback port."""

    def __init__(
        self,
        folder: Path,
        env: dict[str, str],
        *,
        username: str = "",
        password: str = "",
        config: str | None = None,
        wait: bool = True,
    ) -> None:
        folder.mkdir(parents=True)
        (folder / "scrapyd.conf").write_text(config or (ROOT / "deploy" / "scrapyd.conf").read_text())
        self.folder, self.env = folder, env
        self.auth = {"SCRAPYD_USERNAME": username, "SCRAPYD_PASSWORD": password} if username else {}
        self.log = open(folder / "scrapyd.log", "ab")  # noqa: SIM115 - open for the node's lifetime
        self._start()
        if wait:
            self.wait_ready()

    def _start(self) -> None:
        self.port = free_port()
        self.name = f"http://127.0.0.1:{self.port}"
        if self.auth:
            self.url = f"http://{self.auth['SCRAPYD_USERNAME']}:{self.auth['SCRAPYD_PASSWORD']}@127.0.0.1:{self.port}"
        else:
            self.url = self.name
        self.proc = subprocess.Popen(
            [str(BIN / "scrapyd"), "--pidfile="],
            cwd=self.folder,
            env={**self.env, **self.auth, "SCRAPYD_HTTP_PORT": str(self.port)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, attempts: int = 3) -> None:
        """Wait until the node answers; start it again on another port if its port was taken meanwhile."""
        for attempt in range(attempts):
            try:
                wait_for(self.answers, timeout=60, message=f"Scrapyd on port {self.port}")
                return
            except RuntimeError:
                taken = b"Address already in use" in (self.folder / "scrapyd.log").read_bytes()
                if attempt == attempts - 1 or not taken:
                    raise
                self._start()

    def call(self, endpoint: str, *, request_timeout: float = 10, **form: str) -> dict[str, Any]:
        """A Scrapyd API call with this node's credentials (POST when form fields are given)."""
        import base64
        import json
        import urllib.parse
        import urllib.request

        data = urllib.parse.urlencode(form).encode() if form else None
        request = urllib.request.Request(f"{self.name}/{endpoint}", data=data)
        if self.auth:
            pair = f"{self.auth['SCRAPYD_USERNAME']}:{self.auth['SCRAPYD_PASSWORD']}".encode()
            request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())
        with urllib.request.urlopen(request, timeout=request_timeout) as response:
            return json.load(response)

    def answers(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"Scrapyd exited; see {self.folder / 'scrapyd.log'}")
        try:
            return self.call("daemonstatus.json")["status"] == "ok"
        except OSError:
            return False

    def deploy(self, egg: Path, project: str = "scraperq") -> Any:
        """``scrapyd-deploy`` of the egg, as a user runs it (the ``env`` target of scrapy.cfg)."""
        env = {**os.environ, **self.auth, "SCRAPYD_URL": self.name + "/"}
        args = [str(BIN / "scrapyd-deploy"), "env", "--egg", str(egg), "-p", project, "-v", "1"]
        return subprocess.run(args, cwd=egg.parent, env=env, capture_output=True, text=True, timeout=120, check=True)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
