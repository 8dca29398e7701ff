"""``scraperq scheduler`` serves the HTTP API in the same process, and refuses to serve it unsafely."""

from __future__ import annotations

import signal
import socket
import subprocess
import uuid
from pathlib import Path

import requests

from tests.helpers import BIN, crawl_env, free_port, run_forked, spawn, wait_for


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
