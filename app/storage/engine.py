"""Engines and sessions: the SQLite and PostgreSQL specifics live here and nowhere else."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, event, text
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session

_IMMEDIATE = "fx_immediate"
# Execution options for a connection whose transaction writes (see _on_begin); ignored by PostgreSQL.
WRITE_OPTIONS = {_IMMEDIATE: True}


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


def _sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the poller's write
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A read-then-write transaction that begins DEFERRED fails with SQLITE_BUSY when another writer got
        # in between, whatever the busy timeout. Writers therefore begin IMMEDIATE; readers stay deferred.
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        _sqlite_events(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


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
    """One write transaction: committed when the block ends, rolled back whole if it raises."""
    with Session(engine, expire_on_commit=False) as session:
        session.connection(execution_options=WRITE_OPTIONS)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session
