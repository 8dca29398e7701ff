"""Queue workers as services, and the Redis they need: what deploy/ ships, run as it ships.

A worker is started exactly as the Procfile (through honcho), the systemd unit
(its ExecStart and Environment, with systemd's own expansion of ``%i``, ``%%``
and ``$$``) and the compose service (its command and environment) start it, is
stopped with the signal each sends, and must exit 0 within the grace period each
gives, having handed its leased work back: a second worker then finishes every
task, each page fetched once. Each run has its own redis-server.
"""

from __future__ import annotations

import re
import shlex
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from scraperq.queue.connection import persistence_problem
from scraperq.storage import open_database
from scraperq.storage.tasks import list_tasks
from tests.helpers import BIN, ROOT, crawl_env, free_port, scraperq, wait_for

DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "systemd" / "scraperq-worker@.service"
SPIDER = "generic"
# Short leases and small batches, so the test sees work held and given back within seconds.
FAST = {
    "SCRAPERQ_LEASE_SECONDS": "3",
    "SCRAPERQ_QUEUE_POLL_SECONDS": "0.1",
    "SCRAPERQ_QUEUE_PREFETCH": "2",
    "CONCURRENT_REQUESTS": "2",
}


# -- a private redis-server ----------------------------------------------------------------------


class RedisServer:
    def __init__(self, folder: Path, *args: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = open(folder / "redis.log", "wb")  # noqa: SIM115 - open for the server's lifetime
        command = ["redis-server", *args, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(folder)]
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis.from_url(self.url)
        wait_for(self._answers, timeout=20, message="the private redis-server")

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited: {(Path(self.log.name)).read_text()}")
        try:
            return bool(self.client.ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        self.client.close()
        self.proc.kill()
        self.proc.wait()
        self.log.close()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Any]:
    started: list[RedisServer] = []

    def start(*args: str) -> RedisServer:
        server = RedisServer(tmp_path / f"redis{len(started)}", *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


NO_PERSISTENCE = ("--save", "", "--appendonly", "no")


# -- how each service file starts and stops a worker ----------------------------------------------


def unit_settings(path: Path) -> dict[str, list[str]]:
    """The [Service] section's assignments, each key with its values in order."""
    values: dict[str, list[str]] = {}
    section = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif line and not line.startswith("#") and section == "[Service]":
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def systemd_expand(text: str, instance: str) -> str:
    """systemd's specifier and dollar expansion, for the ones the unit uses."""
    return re.sub(r"%%|%i|\$\$", lambda m: {"%%": "%", "%i": instance, "$$": "$"}[m.group()], text)


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(s|min)?", duration.strip())
    assert match, duration
    return float(match.group(1)) * (60 if match.group(2) == "min" else 1)


def via_systemd(folder: Path) -> tuple[list[str], dict[str, str], Path, int, float]:
    unit = unit_settings(UNIT)
    [exec_start] = unit["ExecStart"]
    args = shlex.split(systemd_expand(exec_start, "generic.1").replace("/opt/scraperq/.venv/bin/", f"{BIN}/"))
    env = dict(pair.split("=", 1) for line in unit["Environment"] for pair in shlex.split(line))
    env = {name: value.replace("/var/lib/scraperq", str(folder)) for name, value in env.items()}
    [kill_signal] = unit["KillSignal"]
    [stop_timeout] = unit["TimeoutStopSec"]
    return args, env, folder, getattr(signal, kill_signal), seconds(stop_timeout)


def via_compose(folder: Path) -> tuple[list[str], dict[str, str], Path, int, float]:
    worker = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]["worker"]
    env = {name: value for name, value in worker["environment"].items() if name == "SCRAPY_SETTINGS_MODULE"}
    # The image's working directory (/var/lib/scrapyd) holds no scrapy.cfg either.
    return worker["command"], env, folder, getattr(signal, worker["stop_signal"]), seconds(worker["stop_grace_period"])


def via_procfile(folder: Path) -> tuple[list[str], dict[str, str], Path, int, float]:
    # honcho sends SIGTERM and waits for a lone process; 90 s stands for an operator's patience.
    return (
        [str(BIN / "honcho"), "-f", "deploy/Procfile", "start", "--no-colour", "worker"],
        {},
        ROOT,
        signal.SIGTERM,
        90,
    )


def workers_and_held(client: redis.Redis) -> tuple[list[bytes], list[bytes]]:
    return client.zrange(f"{SPIDER}:workers", 0, -1), list(client.scan_iter(f"{SPIDER}:held:*"))


@pytest.mark.parametrize("service", ["procfile", "systemd", "compose"])
def test_a_worker_started_as_its_service_file_says_stops_cleanly_and_gives_its_work_back(
    service: str, tmp_path: Path, pg_url: str, mockserver: Any, private_redis: Any
) -> None:
    # The shipped Redis configuration for the unit and the compose file, none for the Procfile
    # (a developer's Redis): only the latter earns the warning, once.
    server = private_redis(str(DEPLOY / "redis.conf")) if service != "procfile" else private_redis(*NO_PERSISTENCE)
    how = {"procfile": via_procfile, "systemd": via_systemd, "compose": via_compose}[service]
    args, service_env, cwd, stop_signal, grace = how(tmp_path)
    env = crawl_env(pg_url, REDIS_URL=server.url, **FAST, **service_env)
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: workers_and_held(server.client)[0], timeout=60, message="the worker to register")
        urls = [mockserver(f"/slow?delay=1&svc={service}&id={n}") for n in range(8)]
        done = scraperq(pg_url, "enqueue", *urls, REDIS_URL=server.url)
        assert done.returncode == 0, done.stderr
        wait_for(lambda: workers_and_held(server.client)[1], timeout=30, message="the worker to hold work")

        worker.send_signal(stop_signal)
        code = worker.wait(timeout=grace)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    output = log.read_text(errors="replace")
    if service == "procfile":
        assert "worker.1 stopped (rc=0)" in output, output[-3000:]
    else:
        assert code == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert output.count("Redis at ") == (1 if service == "procfile" else 0), output[-3000:]
    assert workers_and_held(server.client) == ([], [])  # it left, and holds nothing

    # What it had not finished is still queued: another worker finishes every task, each page once.
    finisher = subprocess.Popen(
        [str(BIN / "scrapy"), "crawl", SPIDER, "-a", "worker=1"],
        cwd=ROOT,
        env=crawl_env(pg_url, REDIS_URL=server.url, **FAST),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with open_database(pg_url) as db:
            wait_for(lambda: _all_completed(db, len(urls)), timeout=90, message="every task completed")
    finally:
        finisher.send_signal(signal.SIGTERM)
        assert finisher.wait(timeout=90) == 0
    fetched = {path: n for path, n in mockserver.hits().items() if f"svc={service}&" in path}
    assert sorted(fetched) == sorted(url.removeprefix(mockserver.url) for url in urls)
    assert set(fetched.values()) == {1}


def _all_completed(db: Any, count: int) -> bool:
    return [t["status"] for t in list_tasks(db, limit=100)] == ["completed"] * count


# -- Redis persistence ----------------------------------------------------------------------------


def test_the_shipped_redis_conf_keeps_the_queue_across_restarts(private_redis: Any) -> None:
    server = private_redis(str(DEPLOY / "redis.conf"))
    config = server.client.config_get("*")
    assert (config["appendonly"], config["appendfsync"], config["maxmemory-policy"]) == (
        "yes",
        "everysec",
        "noeviction",
    )
    assert persistence_problem(server.client) is None


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (NO_PERSISTENCE, "no persistence at all (appendonly no, no save points): a restart loses every queued entry"),
        (("--save", "60 1", "--appendonly", "no"), "appendonly is off: a restart loses what changed since the last"),
        (("--appendonly", "yes", "--save", ""), None),
        # A managed Redis that refuses CONFIG: INFO persistence still tells whether AOF is on.
        ((*NO_PERSISTENCE, "--rename-command", "CONFIG", ""), "appendonly is off (CONFIG is not available"),
        (("--appendonly", "yes", "--rename-command", "CONFIG", ""), None),
    ],
)
def test_persistence_is_read_from_the_server(private_redis: Any, args: tuple[str, ...], problem: str | None) -> None:
    found = persistence_problem(private_redis(*args).client)
    assert found == problem if problem is None else (found or "").startswith(problem)


def test_every_redis_the_compose_file_runs_uses_the_shipped_redis_conf() -> None:
    services = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]
    runs_redis = {name: s for name, s in services.items() if "redis" in str(s.get("image", ""))}
    assert runs_redis
    for service in runs_redis.values():
        mounts = dict(volume.split(":")[:2] for volume in service["volumes"] if volume.startswith("./"))
        [config] = [path for source, path in mounts.items() if source == "./redis.conf"]
        assert service["command"] == ["redis-server", config]


# -- the service files themselves ----------------------------------------------------------------


def test_the_compose_worker_scales_and_reaches_the_queue_and_database() -> None:
    worker = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=N
    assert worker["command"][:3] == ["scrapy", "crawl", SPIDER] and "worker=1" in worker["command"]
    assert worker["environment"]["REDIS_URL"].startswith("redis://")
    assert worker["environment"]["DATABASE_URL"].startswith("postgresql://")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_worker_unit_is_valid_and_no_more_exposed_than_the_other_units(tmp_path: Path) -> None:
    instance = tmp_path / "scraperq-worker@generic.1.service"
    shutil.copy(UNIT, instance)
    verify = subprocess.run(["systemd-analyze", "verify", str(instance)], capture_output=True, text=True, check=False)
    assert verify.returncode == 0 and not verify.stderr.replace("\n", ""), verify.stderr

    def exposure(unit: Path) -> float:
        done = subprocess.run(
            ["systemd-analyze", "security", "--offline=yes", str(unit)], capture_output=True, text=True, check=False
        )
        match = re.search(r"Overall exposure level for \S+: ([\d.]+)", done.stdout)
        assert match, done.stdout + done.stderr
        return float(match.group(1))

    worker = exposure(instance)
    for other in (DEPLOY / "systemd").glob("*.service"):
        if other.name != UNIT.name:
            assert worker <= exposure(other), other.name


def test_every_redis_server_started_in_deploy_keeps_an_append_only_file() -> None:
    started = []  # (file, command line) of every redis-server that deploy/ starts
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        for line in path.read_text(errors="replace").replace("\\\n", " ").splitlines():
            if re.search(r'(^\s*|\[\s*")redis-server[\s"]', line):  # a shell command or a compose command list
                started.append((path.name, line))
    assert {name for name, _ in started} >= {"setup-dev.sh", "docker-compose.yml"}
    for name, line in started:
        assert "--appendonly yes" in line or "scraperq.conf" in line, (name, line)  # compose mounts redis.conf
    assert "\nappendonly yes\n" in (DEPLOY / "redis.conf").read_text()
