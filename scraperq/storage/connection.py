"""Database connections for PostgreSQL (production) and SQLite (embedded default).

Every query in scraperq is written once, with ``%s`` placeholders, and runs on
both dialects: this module translates placeholders for SQLite and papers over
the few type differences (timestamps, JSON, booleans). Values always travel as
parameters, never by string formatting.

``DATABASE_URL`` is ``postgresql://...`` or ``sqlite:///PATH``; unset means the
SQLite file at :func:`default_database_url`.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scraperq.errors import ConfigError, StorageUnavailable, first_line
from scraperq.redact import ENCODE_ADVICE, misplaced_credentials, redact_url, scrub

logger = logging.getLogger(__name__)

_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def utcnow() -> datetime:
    return datetime.now(UTC)


def default_database_url() -> str:
    """The embedded SQLite file: ``$XDG_DATA_HOME/scraperq/scraperq.sqlite3``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return "sqlite:///" + os.path.join(base, "scraperq", "scraperq.sqlite3")


# SQLite keeps timestamps as fixed-width ISO text in UTC, so that text order is time order.
def _adapt_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(_TIMESTAMP_FORMAT)


def _convert_timestamp(raw: bytes) -> datetime:
    return datetime.fromisoformat(raw.decode())


sqlite3.register_adapter(datetime, _adapt_datetime)
sqlite3.register_converter("TIMESTAMPTZ", _convert_timestamp)


class JsonText(str):
    """JSON that is encoded already (an item the pipelines encoded): stored as it is, not encoded again."""


def json_text(value: Any) -> str:
    """``value`` as JSON text: :class:`JsonText` as it is, anything else encoded."""
    if isinstance(value, JsonText):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _as_is(text: str) -> str:
    return text


class Database:
    """A dialect-aware handle: ``with db.transaction() as cur: cur.execute(sql, params)``.

    Rows come back as dicts. One transaction per ``with`` block: it commits when
    the block ends and rolls back if it raises.
    """

    dialect: str

    def __init__(self, url: str, *, pool_size: int = 4, connect_timeout: float = 5.0) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        # Not urlsplit: it raises on a '[' in a password, before anything could say what is wrong.
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        if scheme in ("postgresql", "postgres"):
            if misplaced_credentials(url):
                raise ConfigError(f"DATABASE_URL {redact_url(url)!r} cannot be read: {ENCODE_ADVICE}")
            self.dialect = "postgresql"
            self._pool = self._open_pool(url, pool_size, connect_timeout)
        elif scheme == "sqlite":
            self.dialect = "sqlite"
            self._sqlite_path = self._sqlite_path_of(url)
            self._sqlite_lock = threading.Lock()
        else:
            raise ConfigError(f"DATABASE_URL must start with postgresql:// or sqlite:///, got {redact_url(url)!r}")

    # -- opening -----------------------------------------------------------------

    @staticmethod
    def _sqlite_path_of(url: str) -> str:
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigError(f"DATABASE_URL {url!r} names no file: use sqlite:///PATH")
        if path != ":memory:":
            try:
                Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageUnavailable(f"cannot create the folder for {path}: {exc.strerror}") from None
        return str(Path(path).expanduser()) if path != ":memory:" else path

    @staticmethod
    def _open_pool(url: str, size: int, timeout: float) -> Any:
        import psycopg
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        # One direct attempt first: an unreachable server fails at once with its reason,
        # instead of the pool retrying in the background until its timeout.
        try:
            psycopg.connect(url, connect_timeout=max(1, int(timeout))).close()
        except psycopg.Error as exc:
            raise StorageUnavailable(
                f"cannot connect to database {redact_url(url)}: {scrub(first_line(exc), url)}"
            ) from None
        pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, size),
            kwargs={"row_factory": dict_row, "connect_timeout": max(1, int(timeout))},
            open=False,
            name="scraperq",
        )
        try:
            pool.open(wait=True, timeout=timeout)
        except Exception as exc:  # psycopg_pool's PoolTimeout; the server went away just now
            pool.close()
            raise StorageUnavailable(
                f"cannot connect to database {redact_url(url)}: {scrub(first_line(exc), url)}"
            ) from None
        return pool

    def close(self) -> None:
        if self.dialect == "postgresql":
            self._pool.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        if self.dialect == "postgresql":
            import psycopg
            from psycopg_pool import PoolTimeout

            try:
                # Wait for a connection about as long as connecting may take, not the pool's
                # 30 s default, so an outage surfaces (and the batch is kept) promptly.
                with self._pool.connection(timeout=self.connect_timeout * 2) as conn, conn.cursor() as cur:
                    yield Cursor(self, cur)
            except (psycopg.OperationalError, PoolTimeout) as exc:
                raise StorageUnavailable(
                    f"database {redact_url(self.url)} failed: {scrub(first_line(exc), self.url)}"
                ) from exc
            return
        conn = self._sqlite_connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield Cursor(self, conn.cursor())
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    def _sqlite_connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self._sqlite_path,
                timeout=30,
                detect_types=sqlite3.PARSE_DECLTYPES,
                isolation_level=None,  # explicit BEGIN/COMMIT only
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"cannot open SQLite database {self._sqlite_path}: {exc}") from None
        conn.row_factory = sqlite3.Row
        try:
            # WAL lets the CLI read while a crawl writes; NORMAL sync is safe under WAL.
            _use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:  # not a database file, or the file is locked or unreadable
            conn.close()
            raise StorageUnavailable(f"cannot open SQLite database {self._sqlite_path}: {exc}") from None
        return conn

    @property
    def row_errors(self) -> tuple[type[Exception], ...]:
        """Errors meaning "the database refuses these values" (a constraint, bad data), not "it is down"."""
        if self.dialect == "postgresql":
            import psycopg

            return (psycopg.IntegrityError, psycopg.DataError)
        return (sqlite3.IntegrityError, sqlite3.DataError)

    # -- value helpers -----------------------------------------------------------

    def json_param(self, value: Any) -> Any:
        """A JSON value as a query parameter for this dialect (:class:`JsonText` goes as it is)."""
        if self.dialect == "postgresql":
            from psycopg.types.json import Jsonb

            return Jsonb(value, dumps=_as_is) if isinstance(value, JsonText) else Jsonb(value)
        return json_text(value)

    @staticmethod
    def json_value(stored: Any) -> Any:
        """A stored JSON column back as Python (SQLite hands back text)."""
        if isinstance(stored, (str, bytes)):
            return json.loads(stored)
        return stored


class Cursor:
    """A cursor that takes ``%s`` placeholders on both dialects and returns dict rows."""

    def __init__(self, db: Database, raw: Any) -> None:
        self.db = db
        self._raw = raw

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def _sql(self, sql: str) -> str:
        return sql.replace("%s", "?") if self.db.dialect == "sqlite" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        self._raw.execute(self._sql(sql), tuple(params))
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._raw.executemany(self._sql(sql), [tuple(r) for r in rows])

    def copy(self, sql: str) -> Any:
        """PostgreSQL's ``COPY ... FROM STDIN`` (psycopg's ``Cursor.copy``: a context manager with ``write_row``)."""
        if self.db.dialect != "postgresql":
            raise TypeError("COPY is PostgreSQL's; SQLite takes executemany")
        return self._raw.copy(sql)

    def fetchone(self) -> dict[str, Any] | None:
        row = self._raw.fetchone()
        return None if row is None else dict(row)

    def fetchall(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._raw.fetchall()]

    @property
    def rowcount(self) -> int:
        return int(self._raw.rowcount)


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch a database file to WAL once; the mode is stored in the file.

    Changing the journal mode needs the file to itself and SQLite does not wait for
    that (no busy timeout), so processes opening a new database together take turns.
    """
    if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + 30
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
