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
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.mockserver"],
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
    """Run a command from the project folder and capture its output as text."""
    return subprocess.run(
        args, cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )


def crawl(database_url: str, spider: str, *spider_args: str, timeout: float = 120, **env: str) -> Any:
    """``scrapy crawl SPIDER -a k=v ...`` as a real process; returns the finished process."""
    args = [str(BIN / "scrapy"), "crawl", spider]
    for arg in spider_args:
        args += ["-a", arg]
    return run(args, crawl_env(database_url, **env), timeout=timeout)


def scraperq(database_url: str, *args: str, stdin: str | None = None, timeout: float = 60, **env: str) -> Any:
    return run([str(BIN / "scraperq"), *args], crawl_env(database_url, **env), timeout=timeout, stdin=stdin)


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


class ScrapydNode:
    """A real Scrapyd process running deploy/scrapyd.conf in its own folder, on a free loopback port."""

    def __init__(
        self, folder: Path, env: dict[str, str], *, username: str = "", password: str = "", config: str | None = None
    ) -> None:
        folder.mkdir(parents=True)
        (folder / "scrapyd.conf").write_text(config or (ROOT / "deploy" / "scrapyd.conf").read_text())
        self.folder, self.port = folder, free_port()
        self.name = f"http://127.0.0.1:{self.port}"
        self.url = f"http://{username}:{password}@127.0.0.1:{self.port}" if username else self.name
        self.auth = {"SCRAPYD_USERNAME": username, "SCRAPYD_PASSWORD": password} if username else {}
        self.log = open(folder / "scrapyd.log", "wb")  # noqa: SIM115 - open for the node's lifetime
        self.proc = subprocess.Popen(
            [str(BIN / "scrapyd"), "--pidfile="],
            cwd=folder,
            env={**env, **self.auth, "SCRAPYD_HTTP_PORT": str(self.port)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self.answers, timeout=60, message=f"Scrapyd on port {self.port}")

    def call(self, endpoint: str, **form: str) -> dict[str, Any]:
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
        with urllib.request.urlopen(request, timeout=10) as response:
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
