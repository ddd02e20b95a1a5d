"""What SQLite and PostgreSQL do differently, for the layers above: they ask for what they need, never the dialect.

Each function takes the connection (or engine) it works for and answers in the terms of the caller: an upsert,
a lock on the write transaction, a time as text, a file that should be there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, String, Table, func, text, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from app.storage.engine import lock_key


def insert(dialect: Dialect, table: Table) -> Any:
    """An INSERT of `table` that can take ON CONFLICT DO UPDATE (both dialects' own, with the same interface)."""
    return (postgresql if dialect.name == "postgresql" else sqlite).insert(table)


@cache
def _writer_key(engine: Engine) -> int:
    return lock_key(engine, "store")


def serialize_writers(session: Session, engine: Engine) -> None:
    """Make this write transaction the only one until it ends: SQLite's BEGIN IMMEDIATE does it already
    (app.storage.engine); PostgreSQL takes a transaction-level advisory lock."""
    if engine.dialect.name != "sqlite":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _writer_key(engine)})


def counts_each_row(conn: Connection, statements: int) -> bool:
    """Whether the driver reports the rows an executemany of `statements` statements changed."""
    return statements == 1 or bool(conn.dialect.supports_sane_multi_rowcount)


def iso_text(conn: Connection, column: ColumnElement[datetime]) -> ColumnElement[str]:
    """The time as app.core.jsonenc.iso writes it ('2026-02-23T10:00:00Z', microseconds only when there are some),
    formatted by the database: SQLite stores the UTC text 'YYYY-MM-DD HH:MM:SS.ffffff', PostgreSQL formats it."""
    if conn.dialect.name == "sqlite":
        stamped = func.replace(type_coerce(column, String), " ", "T") + "Z"
    else:
        stamped = func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    return func.replace(stamped, ".000000Z", "Z")


def naive_utc(conn: Connection, column: ColumnElement[datetime]) -> ColumnElement[Any]:
    """A time column as the text (SQLite) or naive datetime (PostgreSQL) of its UTC instant, skipping the
    aware-datetime type, which costs more than the rest of a loop over many rows; `naive_parser` reads it."""
    if conn.dialect.name == "sqlite":
        return type_coerce(column, String)
    return func.timezone("UTC", column, type_=DateTime())


def naive_parser(conn: Connection) -> Callable[[Any], datetime]:
    """What turns a `naive_utc` value into a naive UTC datetime."""
    return datetime.fromisoformat if conn.dialect.name == "sqlite" else _same


def _same(moment: datetime) -> datetime:
    return moment


def missing_file(engine: Engine) -> str | None:
    """The path of a SQLite database file that does not exist (connecting would create an empty one), else None."""
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:" and not Path(database).exists():
        return database
    return None


def analyze(conn: Connection, tables: Sequence[str]) -> None:
    """Refresh PostgreSQL's planner statistics of tables just filled (SQLite plans without them)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"ANALYZE {', '.join(tables)}"))
