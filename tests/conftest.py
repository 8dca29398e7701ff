"""Shared fixtures: a throwaway PostgreSQL database, a private Redis db, the mock server,
and a helper that runs real ``scrapy crawl`` / ``scraperq`` processes.

Each test session gets its own PostgreSQL database and its own Redis logical
database (claimed with a lock key, so parallel sessions never share one), and
removes both at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import MockServer

PG_ADMIN_URL = os.environ.get("SCRAPERQ_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("SCRAPERQ_TEST_REDIS", "redis://127.0.0.1:6379")


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


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """A Redis logical database (1-15) claimed for this session with a lock in db 0."""
    import redis

    admin = redis.Redis.from_url(f"{REDIS_BASE}/0")
    token = uuid.uuid4().hex
    for number in range(1, 16):
        if admin.set(f"scraperq-test-lock:{number}", token, nx=True, ex=3600):
            break
    else:
        pytest.fail("every Redis db 1-15 is claimed by another test session")
    url = f"{REDIS_BASE}/{number}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    if admin.get(f"scraperq-test-lock:{number}") == token.encode():
        admin.delete(f"scraperq-test-lock:{number}")


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """The session's Redis db, emptied for this test."""
    import redis

    redis.Redis.from_url(redis_server_url).flushdb()
    return redis_server_url


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
    from tests.helpers import build_egg

    return build_egg(tmp_path_factory.mktemp("egg"))


@pytest.fixture(scope="session")
def scrapyd_nodes(
    pg_server_url: str, scrapyd_egg: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Any]]:
    """Two Scrapyd nodes (the first with basic auth) with the project deployed; jobs write to the session's
    PostgreSQL database and may fetch from loopback (the mock server)."""
    from tests.helpers import ScrapydNode, crawl_env

    folder = tmp_path_factory.mktemp("scrapyd")
    env = crawl_env(pg_server_url)
    nodes = [ScrapydNode(folder / "node1", env, username="scraperq", password=uuid.uuid4().hex)]
    try:
        nodes.append(ScrapydNode(folder / "node2", env))
        for node in nodes:
            node.deploy(scrapyd_egg)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


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
