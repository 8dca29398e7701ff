"""Shared fixtures: a throwaway PostgreSQL database, a private Redis db, the mock server,
the Scrapyd nodes. (tests/helpers.py runs the commands: README "Development" says how.)

Each test process (each xdist worker) gets its own PostgreSQL database and its own
Redis logical database (claimed with a lock key, so parallel runs never share one),
and removes both at the end. Session fixtures are per worker; what a run shares
across workers (the egg) is built once under a file lock.
"""

from __future__ import annotations

import configparser
import fcntl
import io
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
import pytest

from tests.helpers import MockServer

PG_ADMIN_URL = os.environ.get("SCRAPERQ_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("SCRAPERQ_TEST_REDIS", "redis://127.0.0.1:6379")


# Hypothesis: no per-example deadline. On a shared two-core machine with xdist workers an example can
# wait for the CPU; the suite's per-test timeout bounds time, a deadline would only make tests flaky.
hypothesis.settings.register_profile("scraperq", deadline=None)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "scraperq"))


# -- grouping for xdist -----------------------------------------------------------------------


# Two, on two cores: measured against three and four on the shared machine, no slower, and the
# timing-sensitive tests (leases of seconds, Scrapyd timeouts) see less load.
XDIST_WORKERS = 2


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """What ``-n auto`` (pyproject's addopts) means here: XDIST_WORKERS workers, or none when the command
    names single tests only (``tests/test_cli.py::test_...``), which then run at once in this process."""
    if config.args and all("::" in arg for arg in config.args):
        return 0
    return XDIST_WORKERS


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep together, for ``--dist loadgroup`` (pyproject's addopts), what shares an expensive fixture.

    Tests that use the Scrapyd nodes run on one worker, so one worker starts nodes; the tests of a
    module with module-scoped fixtures run on one worker, so they are set up once. Every other test
    goes to whichever worker is free. An explicit ``xdist_group`` mark is left as it is.
    """
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        fixtures = getattr(item, "_fixtureinfo", None)
        definitions = fixtures.name2fixturedefs.values() if fixtures else []
        if "scrapyd_nodes" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("scrapyd"))
        elif any(defs[-1].scope in ("module", "class", "package") for defs in definitions):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


# -- PostgreSQL ------------------------------------------------------------------------


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this session; dropped afterwards."""
    name = f"scraperq_test_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _reset_pg(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture
def pg_url(pg_server_url: str) -> str:
    """The session's PostgreSQL database, emptied for this test."""
    _reset_pg(pg_server_url)
    return pg_server_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'scraperq.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'scraperq.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def db(db_url: str) -> Iterator[Any]:
    from scraperq.storage import open_database

    database = open_database(db_url)
    yield database
    database.close()


# -- Redis -----------------------------------------------------------------------------


# A claim on a shared Redis db lasts this long unless renewed; every test that uses the db
# renews it, so a test run killed before its teardown frees its db within minutes.
REDIS_LEASE_SECONDS = 600
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end return 0"


@dataclass
class RedisClaim:
    url: str
    lock: str = ""  # the lock key in db 0, or "" for a private server
    token: str = ""

    def renew(self) -> None:
        """Extend the claim; take it again if it lapsed unclaimed; fail if another run holds the db now."""
        if self.lock:
            import redis

            with redis.Redis.from_url(f"{REDIS_BASE}/0") as admin:
                renewed = admin.eval(_RENEW, 1, self.lock, self.token, REDIS_LEASE_SECONDS)
                if not renewed and not admin.set(self.lock, self.token, nx=True, ex=REDIS_LEASE_SECONDS):
                    pytest.fail(f"{self.url} was claimed by another test run while this one left it unused")


@pytest.fixture(scope="session")
def redis_claim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClaim]:
    """A Redis logical database (1-15) of the shared server, claimed for this test process with a lock in
    db 0; when all 15 are taken (many test runs and xdist workers at once), a private redis-server instead."""
    import redis

    from tests.helpers import RedisServer

    admin = redis.Redis.from_url(f"{REDIS_BASE}/0")
    token = uuid.uuid4().hex
    for number in range(1, 16):
        lock = f"scraperq-test-lock:{number}"
        if admin.set(lock, token, nx=True, ex=REDIS_LEASE_SECONDS):
            claim = RedisClaim(f"{REDIS_BASE}/{number}", lock, token)
            client = redis.Redis.from_url(claim.url)
            client.flushdb()
            yield claim
            if admin.get(lock) == token.encode():
                client.flushdb()
                admin.delete(lock)
            client.close()
            admin.close()
            return
    admin.close()
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        yield RedisClaim(server.url)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server_url(redis_claim: RedisClaim) -> str:
    """This test process's Redis db (see ``redis_claim``)."""
    return redis_claim.url


@pytest.fixture
def redis_url(redis_claim: RedisClaim) -> str:
    """This test process's Redis db, emptied for this test."""
    import redis

    redis_claim.renew()
    with redis.Redis.from_url(redis_claim.url) as client:
        client.flushdb()
    return redis_claim.url


# -- mock HTTP server ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def mockserver_session() -> Iterator[MockServer]:
    server = MockServer()
    yield server
    server.stop()


@pytest.fixture
def mockserver(mockserver_session: MockServer) -> MockServer:
    mockserver_session.reset()
    return mockserver_session


# -- Scrapyd nodes -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def scrapyd_egg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project egg, built once per test run: xdist workers share it (the first to need it builds it)."""
    from tests.helpers import build_egg

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build_egg(tmp_path_factory.mktemp("egg"))
    shared = tmp_path_factory.getbasetemp().parent  # the run's folder, above every worker's own
    with open(shared / "egg.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        egg = shared / "egg" / "scraperq.egg"
        if not egg.exists():
            folder = tmp_path_factory.mktemp("egg")
            build_egg(folder)
            folder.rename(egg.parent)  # with its scrapy.cfg, which scrapyd-deploy reads beside the egg
    return egg


@pytest.fixture(scope="session")
def scrapyd_nodes(
    pg_server_url: str, scrapyd_egg: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Any]]:
    """Two Scrapyd nodes (the first with basic auth) with the project deployed; jobs write to the session's
    PostgreSQL database and may fetch from loopback (the mock server)."""
    from tests.helpers import ROOT, ScrapydNode, crawl_env, fork_server

    folder = tmp_path_factory.mktemp("scrapyd")
    # Jobs are forked by the test fork server (tests/scrapyd_runner.py says how and why), and start
    # within a tenth of a second of schedule.json rather than the half second deploy/scrapyd.conf allows.
    env = crawl_env(pg_server_url, SCRAPERQ_TEST_FORK_SERVER=fork_server())
    parser = configparser.ConfigParser()
    parser.read(ROOT / "deploy" / "scrapyd.conf")
    parser["scrapyd"].update(runner="tests.scrapyd_runner", poll_interval="0.1")
    written = io.StringIO()
    parser.write(written)
    config = written.getvalue()
    secured = ScrapydNode(
        folder / "node1", env, username="scraperq", password=uuid.uuid4().hex, config=config, wait=False
    )
    nodes = [secured]
    try:
        nodes.append(ScrapydNode(folder / "node2", env, config=config, wait=False))
        with ThreadPoolExecutor() as pool:  # the nodes start and take the egg side by side
            list(pool.map(lambda node: ready_with_egg(node, scrapyd_egg), nodes))
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def ready_with_egg(node: Any, egg: Path) -> None:
    node.wait_ready()
    node.deploy(egg)
    # Scrapyd lists a project's spiders with a `scrapy list` process the first time a call names
    # no version (schedule.json does): do it now, not inside the first test's request timeout. It blocks
    # Scrapyd meanwhile, which takes long on a loaded machine: wait as long as scrapyd-deploy may.
    node.call("listspiders.json?project=scraperq", request_timeout=120)


@pytest.fixture
def scrapyd(scrapyd_nodes: list[Any]) -> Iterator[list[Any]]:
    """The session's Scrapyd nodes; jobs a test leaves behind are cancelled after it."""
    from tests.helpers import wait_for

    yield scrapyd_nodes
    for node in scrapyd_nodes:
        for project in node.call("listprojects.json")["projects"]:
            jobs = node.call(f"listjobs.json?project={project}")
            for job in jobs["pending"] + jobs["running"]:
                node.call("cancel.json", project=project, job=job["id"])
    for node in scrapyd_nodes:
        wait_for(lambda n=node: n.call("daemonstatus.json")["running"] == 0, timeout=60, message="jobs to stop")
