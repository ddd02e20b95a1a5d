"""Schema migrations (Alembic), applied from code so that `serve` and `db upgrade` share one path."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from app.storage.engine import WRITE_OPTIONS


def _config() -> Config:
    config = Config()
    # The migrations ship inside the package, so an installed wheel (the container image) can migrate too.
    config.set_main_option("script_location", "app:migrations")
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the latest revision; a no-op when it is there already."""
    config = _config()
    # A write transaction from the start, so two processes starting at once on SQLite take turns.
    with engine.connect().execution_options(**WRITE_OPTIONS) as conn, conn.begin():
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
