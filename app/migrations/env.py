"""Alembic environment: runs on the connection app.storage.migrate hands over (or on FX_DATABASE_URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text
from sqlmodel import SQLModel

import app.storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from app.storage.engine import make_engine

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several replicas may start at once: the first migrates, the others wait and then find nothing to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('fx-ticker:migrate'))"))
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from app.sources.registry import get_settings

    engine = make_engine(get_settings().database_url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `fx-ticker db upgrade`")
run_migrations_online()
