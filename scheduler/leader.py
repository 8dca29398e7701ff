"""One leader among scheduler daemons: only the leader fires schedules and follows jobs.

On PostgreSQL the leader holds a session-level advisory lock on a connection of
its own (never a pooled one: the lock lives exactly as long as that session).
A heartbeat round-trip on that connection every ``heartbeat`` seconds proves the
session, and so the lock, is still there; if it fails, the daemon stops acting
at once. When a leader dies its session ends (TCP keepalives and
``tcp_user_timeout`` bound how long a dead peer can hold it), the lock is free,
and a follower, which tries every ``heartbeat`` seconds, takes over.

On SQLite (one machine) an exclusive ``flock`` on a file next to the database
does the same job for daemons sharing that file.

While it leads, a daemon also writes its heartbeat to the database
(``scheduler_leader``, through ``on_beat``): that is how ``scraperq schedule run``
on another machine knows a daemon is there to dispatch its request.

Leadership is an efficiency and tidiness measure (one daemon doing the work),
not the exactly-once guarantee: that rests on the per-schedule row lock and the
unique ``job_runs`` index (``scheduler.firing``), which hold even during a
hand-over.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable
from typing import IO, Any, Protocol

from scraperq.errors import first_line
from scraperq.storage import redact_url

logger = logging.getLogger(__name__)

# Identifies the scheduler's lock among advisory locks (the migration lock uses another key).
SCHEDULER_LOCK_KEY = 7_311_942_002


class LeaderLock(Protocol):
    def try_acquire(self) -> bool: ...
    def still_held(self) -> bool: ...
    def release(self) -> None: ...


class PostgresLeaderLock:
    def __init__(self, url: str, *, key: int = SCHEDULER_LOCK_KEY, timeout: float = 5.0) -> None:
        self.url = url
        self.key = key
        self.timeout = timeout
        self._conn: Any = None
        self._unreachable = False  # said so already: one warning per outage, not one per heartbeat

    def _connect(self) -> Any:
        import psycopg

        seconds = max(1, int(self.timeout))
        return psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=seconds,
            application_name="scraperq-scheduler",
            keepalives=1,
            keepalives_idle=seconds,
            keepalives_interval=1,
            keepalives_count=3,
            tcp_user_timeout=seconds * 2000,
        )

    def try_acquire(self) -> bool:
        import psycopg

        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except psycopg.Error as exc:
            message = f"cannot reach {redact_url(self.url)} to take the scheduler lock: {first_line(exc)}"
            self._drop(message if not self._unreachable else None)
            self._unreachable = True
            return False
        self._unreachable = False
        return bool(row and row[0])

    def still_held(self) -> bool:
        import psycopg

        if self._conn is None or self._conn.closed:
            return False
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error as exc:
            self._drop(f"lost the connection that holds the scheduler lock: {first_line(exc)}")
            return False
        return True

    def release(self) -> None:
        import psycopg

        if self._conn is None:
            return
        try:
            if not self._conn.closed:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        except psycopg.Error as exc:
            logger.info("Could not unlock explicitly (closing the session frees it): %s", first_line(exc))
        finally:
            self._conn.close()
            self._conn = None

    def _drop(self, message: str | None) -> None:
        if message:
            logger.warning("%s", message)
        if self._conn is not None:
            self._conn.close()
        self._conn = None


class FileLeaderLock:
    """``flock`` on ``PATH.scheduler-lock`` beside a SQLite database."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def try_acquire(self) -> bool:
        handle = open(self.path, "a+b")  # noqa: SIM115 - held open for as long as we lead
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def still_held(self) -> bool:
        return self._file is not None and not self._file.closed

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def lock_for(database_url: str) -> LeaderLock:
    if database_url.startswith(("postgresql://", "postgres://")):
        return PostgresLeaderLock(database_url)
    path = database_url[len("sqlite:///") :]
    if path == ":memory:":
        return FileLeaderLock(os.devnull)
    return FileLeaderLock(os.path.expanduser(path) + ".scheduler-lock")


class Leadership:
    """Runs a :class:`LeaderLock` in a thread of its own; ``is_leader`` says where we stand."""

    def __init__(
        self,
        lock: LeaderLock,
        *,
        heartbeat: float,
        name: str = "scheduler",
        on_beat: Callable[[], None] | None = None,
    ) -> None:
        self.lock = lock
        self.heartbeat = heartbeat
        self.name = name
        self.on_beat = on_beat
        self._beat_failing = False
        self.is_leader = threading.Event()
        self.changed = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler-leadership", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=max(5.0, self.heartbeat * 3))
        if self.is_leader.is_set():
            self.is_leader.clear()
            logger.info("%s: releasing the scheduler lock", self.name)
        self.lock.release()

    def _run(self) -> None:
        delay, said_standby = 0.0, False
        while not self._stop.wait(delay):
            delay = self.heartbeat
            if self.is_leader.is_set():
                if not self.lock.still_held():
                    self.is_leader.clear()
                    self.changed.set()
                    logger.error("%s: no longer the leader; stopped firing schedules", self.name)
                    continue
                self._beat()
            elif self.lock.try_acquire():
                self.is_leader.set()
                self.changed.set()
                said_standby = False
                logger.info("%s: became the leader; firing schedules", self.name)
                self._beat()
            elif not said_standby:
                said_standby = True
                logger.info("%s: another scheduler leads; standing by to take over", self.name)

    def _beat(self) -> None:
        if self.on_beat is None:
            return
        try:
            self.on_beat()
        except Exception as exc:  # the database is down: the daemon's own steps report it; say it once here
            if not self._beat_failing:
                logger.warning("%s: cannot record the leader's heartbeat: %s", self.name, first_line(exc))
            self._beat_failing = True
        else:
            self._beat_failing = False
