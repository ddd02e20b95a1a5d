"""The schema brought to its head, with the derived tables the migrations left empty refilled by today's code.

A migration that changes a rollup's layout does not compute it: the code that computes rollups follows the latest
schema, and a migration must keep doing what it did when it was written. It asks for a refill instead, which runs
here, after the last migration and in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from app.ingest import pairs, rollup
from app.storage.dialect import analyze
from app.storage.migrate import upgrade

DERIVED = ("rate_rollup", "rate_rollup_day", "rate_pair_rollup", "rate_pair_rollup_day")


def migrate(engine: Engine) -> None:
    """Apply every migration not yet applied, refilling the derived tables when one of them asks."""
    upgrade(engine, refill=_refill)


def _refill(conn: Connection) -> None:
    rollup.rebuild(conn)
    pairs.rebuild(conn)
    analyze(conn, DERIVED)  # the planner's statistics of the rows just written, before autovacuum gathers them
