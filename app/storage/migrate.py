"""Schema migrations (Alembic), applied from code so that `serve` and `db upgrade` share one path."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from app.storage.engine import WRITE_OPTIONS


def _config() -> Config:
    config = Config()
    # The migrations ship inside the package, so an installed wheel (the container image) can migrate too.
    config.set_main_option("script_location", "app:migrations")
    # Revisions are numbered in order (0001, 0002, ...) and named after what they change: `0006_add_x.py`.
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.set_main_option("truncate_slug_length", "40")
    return config


# Set by a migration that left derived tables (the rollups) to be refilled once the schema is at its head.
REFILL = "fx_refill_derived"


def upgrade(engine: Engine, refill: Callable[[Connection], object] | None = None) -> None:
    """Bring the schema to the latest revision; a no-op when it is there already. When a migration asks for its
    derived tables to be refilled, `refill` does it in the same transaction, so that they are never left empty
    (app.ingest.schema.migrate passes it; without it such an upgrade is refused, nothing applied)."""
    config = _config()
    # A write transaction from the start, so two processes starting at once on SQLite take turns.
    with engine.connect().execution_options(**WRITE_OPTIONS) as conn, conn.begin():
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        if config.attributes.get(REFILL):
            if refill is None:
                raise RuntimeError("this upgrade refills derived tables: run it with app.ingest.schema.migrate")
            refill(conn)


def new_revision(message: str) -> Path:
    """Write an empty migration after the current head, numbered one past it; its path, to fill in."""
    head = head_revision()
    if head is None or not re.fullmatch(r"\d{4}", head):
        raise ValueError(f"the head revision {head!r} is not a four-digit number")
    script = command.revision(_config(), message=message, rev_id=f"{int(head) + 1:04d}")
    assert script is not None and not isinstance(script, list)  # one revision, never a branch point here
    return Path(script.path)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
