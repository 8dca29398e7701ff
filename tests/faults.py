"""Private servers that fault tests stop, restart and fail over, and the ledger's invariants they check.

* :class:`PostgresCluster`: a PostgreSQL cluster of its own (``initdb``, ``pg_ctl``) on a free
  loopback port, run as the ``postgres`` user when the tests run as root (PostgreSQL refuses root).
* :class:`SentinelSet`: a Redis primary, a replica and three Sentinels on loopback.
* :func:`assert_ledger_whole`: every task ended, result URLs unique, and the same pages as a
  fault-free crawl of the same site.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import redis

from tests.helpers import RedisServer, free_port, wait_for


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found (install PostgreSQL's server binaries)")
    return path


class PostgresCluster:
    """``initdb`` in a folder of its own, then ``pg_ctl start``; ``restart()`` stops and starts it."""

    def __init__(self) -> None:
        self.as_root = os.geteuid() == 0
        # Not under pytest's tmp_path: the postgres user cannot enter root's 0700 folders.
        self.folder = Path(tempfile.mkdtemp(prefix="scraperq-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if self.as_root:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(_postgres_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off -c shared_buffers=16MB"
        self.options = options
        self.start()

    def _run(self, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args] if self.as_root else list(args)
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def _ctl(self, *args: str) -> None:
        self._run(_postgres_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "postgres.log"), *args)

    def start(self) -> None:
        self._ctl("-w", "-o", self.options, "start")

    def stop(self) -> None:
        self._ctl("-w", "-m", "fast", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        try:
            self._ctl("-w", "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(self.folder, ignore_errors=True)


class SentinelSet:
    """A primary, a replica of it and three Sentinels watching them, all private, on loopback."""

    SERVICE = "mymaster"

    def __init__(self, folder: Path) -> None:
        (folder / "primary").mkdir()
        (folder / "replica").mkdir()
        self.primary = RedisServer(folder / "primary")
        self.replica = RedisServer(folder / "replica", "--replicaof", "127.0.0.1", str(self.primary.port))
        wait_for(self._replicating, timeout=15, message="the replica to sync")
        self.sentinels: list[subprocess.Popen[bytes]] = []
        self.sentinel_ports: list[int] = []
        for n in range(3):
            port = free_port()
            where = folder / f"sentinel{n}"
            where.mkdir()
            (where / "sentinel.conf").write_text(
                f"port {port}\nbind 127.0.0.1\ndir {where}\n"
                f"sentinel monitor {self.SERVICE} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {self.SERVICE} 1000\n"
                f"sentinel failover-timeout {self.SERVICE} 5000\n"
                f"sentinel parallel-syncs {self.SERVICE} 1\n"
            )
            log = open(where / "sentinel.log", "wb")  # noqa: SIM115 - open for the process's lifetime
            self.sentinels.append(
                subprocess.Popen(
                    ["redis-server", str(where / "sentinel.conf"), "--sentinel"], stdout=log, stderr=subprocess.STDOUT
                )
            )
            self.sentinel_ports.append(port)
        wait_for(self._sentinels_agree, timeout=20, message="the sentinels to see the primary and the replica")
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        self.url = f"redis+sentinel://{hosts}/{self.SERVICE}/0"

    def _replicating(self) -> bool:
        with redis.Redis(port=self.replica.port) as client:
            return client.info("replication").get("master_link_status") == "up"

    def _sentinels_agree(self) -> bool:
        for port in self.sentinel_ports:
            try:
                with redis.Redis(port=port, socket_timeout=2) as client:
                    primary = client.sentinel_master(self.SERVICE)
                    if int(primary.get("num-slaves", 0)) < 1 or int(primary.get("num-other-sentinels", 0)) < 2:
                        return False
            except redis.RedisError:
                return False
        return True

    def current_primary_port(self) -> int:
        with redis.Redis(port=self.sentinel_ports[0], socket_timeout=2) as client:
            return int(client.sentinel_get_master_addr_by_name(self.SERVICE)[1])

    def stop(self) -> None:
        for proc in self.sentinels:
            proc.kill()
            proc.wait()
        for server in (self.primary, self.replica):
            if server.proc.poll() is None:
                server.stop()


def result_pages(db: Any) -> list[tuple[str, str | None]]:
    """(URL, title) of every stored result, one per row."""
    from scraperq.storage.results import iter_results

    return [(row["url"], (row["data"] or {}).get("title")) for row in iter_results(db)]


def assert_ledger_whole(db: Any, expected_pages: set[tuple[str, str | None]], *, tasks: int) -> None:
    """Every task ended (completed here: the site has no failing page), no page stored twice, none missing."""
    from scraperq.storage.tasks import count_by_status

    statuses = {status: n for status, n in count_by_status(db).items() if n}
    assert statuses == {"completed": tasks}, statuses
    pages = result_pages(db)
    doubled = [url for url, n in Counter(url for url, _ in pages).items() if n > 1]
    assert doubled == []
    assert set(pages) == expected_pages
