"""``scraperq scheduler`` serves the HTTP API in the same process, and refuses to serve it unsafely."""

from __future__ import annotations

import signal
import socket
import subprocess
import uuid
from pathlib import Path

import requests

from tests.helpers import BIN, crawl_env, free_port, run, run_forked, spawn, wait_for


def scheduler_env(database_url: str, **extra: str) -> dict[str, str]:
    # Nothing listens on the node's port: the daemon runs, and finds the node down at once.
    return crawl_env(database_url, SCRAPYD_NODES=f"http://127.0.0.1:{free_port()}", **extra)


def test_refuses_to_serve_off_loopback_without_a_token(pg_url: str) -> None:
    env = scheduler_env(pg_url, SCRAPERQ_API_BIND="0.0.0.0:6810")
    done = run_forked([str(BIN / "scraperq"), "scheduler"], env, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "scraperq: error: SCRAPERQ_API_TOKEN must be set to serve the API on 0.0.0.0:6810,"
        " which is not a loopback address"
    ]


def test_a_taken_port_is_a_one_line_error(pg_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_forked(
            [str(BIN / "scraperq"), "scheduler"], scheduler_env(pg_url, SCRAPERQ_API_BIND=f"127.0.0.1:{port}")
        )
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[-1].startswith(f"scraperq: error: cannot serve the API on 127.0.0.1:{port}: ")
    assert "Traceback" not in done.stderr


def test_scheduler_serves_the_api_with_its_token_and_never_logs_it(pg_url: str, tmp_path: Path) -> None:
    token = "tok-" + uuid.uuid4().hex
    port = free_port()
    env = scheduler_env(pg_url, SCRAPERQ_API_BIND=f"127.0.0.1:{port}", SCRAPERQ_API_TOKEN=token)
    log = tmp_path / "scheduler.log"
    with open(log, "wb") as out:
        proc = spawn([str(BIN / "scraperq"), "-v", "scheduler"], env, stdout=out, stderr=subprocess.STDOUT)
    session = requests.Session()
    session.trust_env = False
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            try:
                return session.get(f"{base}/healthz", timeout=5).status_code == 200
            except requests.ConnectionError:
                assert proc.poll() is None, log.read_text()
                return False

        wait_for(healthy, timeout=60, message="the API to answer")
        assert session.get(f"{base}/api/schedules", timeout=5).status_code == 401
        wrong = session.get(f"{base}/api/schedules", headers={"Authorization": "Bearer nope"}, timeout=5)
        assert wrong.status_code == 401
        right = session.get(f"{base}/api/schedules", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert right.json() == {"schedules": []}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    text = log.read_text()
    assert f"HTTP API on {base} (token required)" in text
    assert "GET /api/schedules 401" in text  # the access log is on with -v ...
    assert token not in text  # ... and the token appears nowhere


DAEMON_WITHOUT_SCRAPY = """
import sys, json, urllib.request
from scheduler.settings import ProjectSettings
from scheduler.app import build_app
from scheduler.api import serve

settings = ProjectSettings.load()
app = build_app(settings)
server = serve(settings, app)
def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
statuses = [
    call("POST", "/api/schedules", {"name": "s", "spider": "example_bestsellers", "interval_seconds": 60,
                                     "args": {"max_pages": "2"}}),
    call("POST", "/api/schedules", {"name": "t", "spider": "generic", "interval_seconds": 60,
                                     "args": {"url": "not-a-url"}}),
    call("PATCH", "/api/schedules/s", {"args": {"category": "x"}}),
    call("POST", "/api/tasks", {"urls": ["https://example.com/"]}),
    call("GET", "/"),
    call("GET", "/api/dead"),
    call("POST", "/api/dead", {"action": "requeue", "spider": "generic"}),
]
server.stop()
app.close()
print(json.dumps({"statuses": statuses, "scrapy": "scrapy" in sys.modules, "twisted": "twisted" in sys.modules}))
"""


def test_the_daemon_and_its_api_never_load_scrapy_or_twisted(pg_url: str, redis_url: str) -> None:
    import json
    import sys

    env = scheduler_env(pg_url, REDIS_URL=redis_url, SCRAPERQ_API_BIND="127.0.0.1:0")
    done = run([sys.executable, "-c", DAEMON_WITHOUT_SCRAPY], env, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # A source file's spider and its arguments, a refusal naming the field, URLs queued, the dashboard,
    # dead letters:
    assert report == {"statuses": [201, 422, 200, 201, 200, 200, 200], "scrapy": False, "twisted": False}
