"""Faults with real processes mid-crawl, each checked against the ledger's invariants.

Every test crawls a site of the mock server with two ``scrapy crawl generic`` workers,
causes one fault half-way (a worker killed with ``kill -9``, PostgreSQL restarted,
Redis restarted without persistence, the Redis primary killed under Sentinel) and
then finds every task ended, no result URL twice, and the same pages as a fault-free
crawl of the same site (:func:`reference`, run once without Redis).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scraperq.storage import open_database
from scraperq.storage.results import count_results
from scraperq.submit import redis_client
from tests.faults import PostgresCluster, SentinelSet, assert_ledger_whole, result_pages
from tests.helpers import RedisServer, crawl, scraperq, wait_for
from tests.test_queue_workers import Worker, all_final

PAGES = 100  # the followed site
SINGLES = 120  # one-page tasks
FAST = {"SCRAPERQ_LEASE_SECONDS": "4", "CONCURRENT_REQUESTS": "4", "SCRAPERQ_QUEUE_PREFETCH": "4"}
FOLLOW = ("follow=same-host", "depth=20")
LIGHT = "text=none"  # links and metadata: the faults are the point, not the extraction


def site(mockserver: Any) -> str:
    return mockserver(f"/site/0.html?pages={PAGES}")


def singles(mockserver: Any) -> list[str]:
    # Pages of a site too large to follow here, each its own task without links followed.
    return [mockserver(f"/site/{n}.html?pages=100000") for n in range(SINGLES)]


@pytest.fixture(scope="session")  # not module: the tests spread over the suite's workers
def reference(tmp_path_factory: pytest.TempPathFactory, mockserver_session: Any) -> dict[str, set[Any]]:
    """The pages a fault-free crawl stores: the followed site, and the one-page tasks."""
    folder = tmp_path_factory.mktemp("reference")
    found: dict[str, set[Any]] = {}
    for name, args in {
        "site": ("url=" + site(mockserver_session), LIGHT, *FOLLOW),
        "singles": ("urls=" + " ".join(singles(mockserver_session)), LIGHT),
    }.items():
        url = f"sqlite:///{folder / name}.sqlite3"
        done = crawl(url, "generic", *args)
        assert done.returncode == 0, done.stderr[-2000:]
        db = open_database(url)
        found[name] = set(result_pages(db))
        db.close()
    assert len(found["site"]) == PAGES and len(found["singles"]) == SINGLES
    return found


@pytest.fixture
def db(pg_url: str) -> Iterator[Any]:
    database = open_database(pg_url)
    yield database
    database.close()


@pytest.fixture
def start_workers(tmp_path: Path) -> Iterator[Any]:
    started: list[Worker] = []

    def start(db_url: str, redis_url: str, count: int = 2, *args: str) -> list[Worker]:
        for _ in range(count):
            started.append(Worker(tmp_path / f"worker{len(started)}.log", db_url, redis_url, *args, **FAST))
        for worker in started[-count:]:
            worker.wait_ready()
        return started[-count:]

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.stop(signal.SIGKILL)


def enqueue(db_url: str, redis_url: str, *urls: str) -> list[int]:
    done = scraperq(db_url, "enqueue", *urls, REDIS_URL=redis_url)
    assert done.returncode == 0, done.stderr
    return [int(line) for line in done.stdout.split()]


def stop_all(workers: list[Worker]) -> None:
    for worker in workers:
        if worker.proc.poll() is None:
            assert worker.stop() == 0, worker.output()[-3000:]


def test_a_worker_killed_with_kill_9_mid_crawl_loses_no_page(
    start_workers: Any, db: Any, pg_url: str, redis_url: str, mockserver: Any, reference: dict[str, set[Any]]
) -> None:
    victim, survivor = start_workers(pg_url, redis_url, 2, LIGHT, *FOLLOW)
    [task] = enqueue(pg_url, redis_url, site(mockserver))
    wait_for(lambda: count_results(db, task_id=task) >= PAGES // 4, timeout=60, message="a quarter stored")
    victim.stop(signal.SIGKILL)
    wait_for(lambda: all_final(db, 1), timeout=60, message="the task to end")
    wait_for(lambda: count_results(db, task_id=task) >= PAGES, timeout=30, message="every page stored")
    assert_ledger_whole(db, reference["site"], tasks=1)
    stop_all([survivor])


def test_postgresql_restarted_mid_crawl_loses_no_page(
    start_workers: Any, redis_url: str, mockserver: Any, reference: dict[str, set[Any]]
) -> None:
    cluster = PostgresCluster()
    try:
        db = open_database(cluster.url)  # creates the schema
        workers = start_workers(cluster.url, redis_url, 2, LIGHT, *FOLLOW)
        [task] = enqueue(cluster.url, redis_url, site(mockserver))
        wait_for(lambda: count_results(db, task_id=task) >= PAGES // 4, timeout=60, message="a quarter stored")
        cluster.restart()
        wait_for(lambda: _final(db, 1), timeout=60, message="the task to end")
        wait_for(lambda: count_results(db, task_id=task) >= PAGES, timeout=30, message="every page stored")
        assert_ledger_whole(db, reference["site"], tasks=1)
        assert any("database" in worker.output().lower() for worker in workers)
        stop_all(workers)
        db.close()
    finally:
        cluster.remove()


def test_redis_restarted_without_persistence_mid_crawl_is_rebuilt_from_the_database(
    tmp_path: Path, start_workers: Any, db: Any, pg_url: str, mockserver: Any, reference: dict[str, set[Any]]
) -> None:
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")  # --save "" --appendonly no: a restart keeps nothing
    try:
        workers = start_workers(pg_url, server.url, 2, LIGHT)
        assert "no persistence at all" in workers[0].output()  # the warning at start
        ids = enqueue(pg_url, server.url, *singles(mockserver))
        wait_for(lambda: count_results(db) >= SINGLES // 4, timeout=60, message="a quarter stored")
        server.proc.kill()  # as a crash: nothing written anywhere
        server.proc.wait()
        server.start()
        wait_for(lambda: all_final(db, len(ids)), timeout=60, message="every task to end")
        assert_ledger_whole(db, reference["singles"], tasks=len(ids))
        logs = "".join(worker.output() for worker in workers)
        assert "Redis lost the queue generic:requests" in logs
        assert logs.count("Rebuilt the queue generic:requests from the database") == 1  # one worker did it
        stop_all(workers)
    finally:
        server.proc.kill()
        server.proc.wait()


def test_workers_follow_a_sentinel_failover_mid_crawl(
    tmp_path: Path, start_workers: Any, db: Any, pg_url: str, mockserver: Any, reference: dict[str, set[Any]]
) -> None:
    servers = SentinelSet(tmp_path)
    try:
        workers = start_workers(pg_url, servers.url, 2, LIGHT)
        ids = enqueue(pg_url, servers.url, *singles(mockserver))
        wait_for(lambda: count_results(db) >= SINGLES // 4, timeout=60, message="a quarter stored")
        first = servers.primary.port
        servers.primary.proc.kill()
        servers.primary.proc.wait()
        wait_for(lambda: servers.current_primary_port() != first, timeout=30, message="the sentinels to fail over")
        wait_for(lambda: all_final(db, len(ids)), timeout=60, message="every task to end")
        assert_ledger_whole(db, reference["singles"], tasks=len(ids))
        assert "Redis at redis+sentinel://" in "".join(worker.output() for worker in workers)
        stop_all(workers)
        # The CLI and the daemon's client (the API's, the alerts') find the new primary too.
        done = scraperq(pg_url, "enqueue", mockserver("/article"), REDIS_URL=servers.url)
        assert done.returncode == 0, done.stderr
        daemon = redis_client({"REDIS_URL": servers.url})
        assert daemon.llen("generic:start_urls") == 1
        daemon.close()
        status = scraperq(pg_url, "status", REDIS_URL=servers.url)
        assert status.returncode == 0, status.stderr
        assert "generic: 1 start URLs" in status.stdout
    finally:
        servers.stop()


def _final(db: Any, count: int) -> bool:
    try:
        return all_final(db, count)
    except Exception:
        return False  # the database is restarting
