"""Engines and sessions: the SQLite and PostgreSQL specifics live here and nowhere else."""

from __future__ import annotations

import contextlib
import hashlib
import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, Dialect, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session

from app.core.abandon import abandoned, checkpoint

_IMMEDIATE = "fx_immediate"
CONNECT_TIMEOUT = 10.0  # seconds to establish a connection, unless the caller says otherwise (FX_DB_TIMEOUT)
# Execution options for a connection whose transaction writes (see _on_begin); ignored by PostgreSQL.
WRITE_OPTIONS = {_IMMEDIATE: True}
# SQLite virtual-machine steps between two looks at whether the statement's work was given up (about 1 ms).
PROGRESS_STEPS = 100_000
# The page cache of each of the API's reading connections, in KiB (SQLite's default is 2,000). Each pooled
# connection keeps its own, for as long as it stays in the pool: a big read (a year-long download) filled all ten
# of a process's to 2 MB, 20 MB held for good on a server nothing writes to. And in WAL mode a connection empties
# its cache at its next transaction after any other connection wrote, that is after every poll, so a larger one
# only speeds up reads repeated between two polls (measured: history and the export took the same time with 512).
READ_PAGE_CACHE_KIB = 512


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every backend.

    PostgreSQL stores timestamptz; SQLite has no time zones and hands back naive values, so we store UTC
    there and put the zone back on the way out. A naive value going in is a bug, so it is refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: every time stored must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_events(engine: Engine, page_cache_kib: int | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the poller's write
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        if page_cache_kib is not None:
            cursor.execute(f"PRAGMA cache_size=-{int(page_cache_kib)}")  # negative: KiB, not pages
        cursor.close()
        # SQLite asks this every PROGRESS_STEPS steps of a statement, and a true answer interrupts it: a statement
        # whose request gave up on it (app.core.abandon) stops within about a millisecond.
        dbapi_connection.set_progress_handler(abandoned, PROGRESS_STEPS)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A read-then-write transaction that begins DEFERRED fails with SQLITE_BUSY when another writer got
        # in between, whatever the busy timeout. Writers therefore begin IMMEDIATE; readers stay deferred.
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(
    database_url: str,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    statement_timeout: float | None = None,
    pool_size: int = 5,
    max_overflow: int = 5,
    pool_timeout: float = 30.0,
    page_cache_kib: int | None = None,
) -> Engine:
    """An engine with its own pool. Nothing waits for the database without bound: connecting gives up after
    `connect_timeout` (a server that accepts but never answers otherwise hangs a connect for good), waiting for a
    pooled connection after `pool_timeout`, and (PostgreSQL, with `statement_timeout`) the server cancels a
    statement, or ends a session idle in a transaction, after that many seconds. On SQLite, `page_cache_kib` bounds
    each connection's page cache (None: SQLite's default)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            _sqlite_directory(Path(url.database).parent)
            pooling = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
        else:
            pooling = {}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10}, **pooling)
        _sqlite_events(engine, page_cache_kib)
        return engine
    if statement_timeout is not None:
        url = _with_server_timeouts(url, statement_timeout)
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        connect_args={"connect_timeout": max(2, math.ceil(connect_timeout))},  # libpq counts whole seconds, >= 2
    )


# The default database's directory (./var/) is made when missing. Any other must exist: a typo in a path would
# otherwise silently start an empty database somewhere else.
DEFAULT_DIRECTORY = Path("var")


class NoDirectory(OSError):
    """The directory of an SQLite database file does not exist."""


def _sqlite_directory(folder: Path) -> None:
    if folder.is_dir():
        return
    if folder.resolve() != DEFAULT_DIRECTORY.resolve():
        raise NoDirectory(
            f"the directory {folder} does not exist; create it, or correct the path (only ./var/ is made)"
        )
    # Best effort: when it cannot be made, connecting says why the file cannot be opened.
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)


def _with_server_timeouts(url: URL, seconds: float) -> URL:
    """Startup options (`-c name=value`), added to any the URL already has (a search_path, say)."""
    milliseconds = max(1, round(seconds * 1000))
    given = url.query.get("options", "")
    options = " ".join(given) if isinstance(given, tuple) else given
    # A reader never sits in a transaction between statements for long: a session that does is stuck (its
    # thread was abandoned after the deadline), and the server ends it rather than hold its snapshot.
    timeouts = f"-c statement_timeout={milliseconds} -c idle_in_transaction_session_timeout={milliseconds}"
    return url.update_query_dict({"options": f"{options} {timeouts}".strip()})


def unavailable(exc: BaseException) -> bool:
    """The database is away, frozen, overloaded or cancelled a statement: trouble to wait out, not a bug."""
    if isinstance(exc, PoolTimeout | DisconnectionError | OperationalError | InterfaceError | NoDirectory):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def disk_full(exc: BaseException) -> bool:
    """The database answered but cannot store more: SQLite's SQLITE_FULL ("database or disk is full": the file
    system is full, or the file reached its max_page_count), PostgreSQL's disk_full (53100, "could not extend
    file ...: No space left on device"). Unavailable too (an outage to wait out, not a bug): only for writing."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    if isinstance(cause, sqlite3.Error):
        return (getattr(cause, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_FULL
    return getattr(cause, "sqlstate", None) == "53100"


def trouble(exc: BaseException) -> str | None:
    """`exc` in one line (describe) when it says the database is away (unavailable); None for any other error."""
    return describe(exc) if unavailable(exc) else None


def describe(exc: BaseException) -> str:
    """A database failure in one line: the driver's own first line (`... Connection refused`), no traceback."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = [line.strip() for line in str(cause).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__


def masked(database_url: str) -> str:
    """The URL with its password as ***, fit to print."""
    return make_url(database_url).render_as_string(hide_password=True)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def lock_key(engine: Engine, purpose: str) -> int:
    """A PostgreSQL advisory-lock key for `purpose`, distinct per database and schema.

    Two deployments sharing one server (or one database in two schemas) must not block each other.
    """
    with engine.connect() as conn:
        where = conn.execute(text("SELECT current_database() || '.' || current_schema()")).scalar_one()
    digest = hashlib.blake2b(f"fx-ticker:{purpose}:{where}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One write transaction: committed when the block ends, rolled back whole if it raises, or if the one it
    was for gave up on it meanwhile (app.core.abandon: a poll past its deadline, already recorded as failed)."""
    with Session(engine, expire_on_commit=False) as session:
        session.connection(execution_options=WRITE_OPTIONS)
        try:
            yield session
            checkpoint()
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session
