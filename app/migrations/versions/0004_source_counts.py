"""Per-source counts and latest outcomes kept in source_state, filled from the data already stored.

/sources and the metrics read them instead of counting spans and searching the poll log; the store keeps them
current in the same transaction as each poll-log row and span write (app.ingest.store).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMES = ("last_attempt_at", "last_success_at", "last_error_at", "last_rejections_at")

# Each latest outcome is the poll-log row with the greatest started_at among those that qualify, as /sources
# chose it before: one backwards walk of the (source, started_at) index per source.
_LATEST = """
UPDATE source_state SET
  last_attempt_at = (SELECT max(p.started_at) FROM poll_log p WHERE p.source = source_state.source),
  last_success_at = (SELECT p.started_at FROM poll_log p WHERE p.source = source_state.source
                     AND p.outcome IN ('ok', 'partial', 'unchanged') ORDER BY p.started_at DESC LIMIT 1),
  last_error_at = (SELECT p.started_at FROM poll_log p WHERE p.source = source_state.source
                   AND p.outcome IN ('error', 'rejected') ORDER BY p.started_at DESC LIMIT 1),
  last_error = (SELECT p.error FROM poll_log p WHERE p.source = source_state.source
                AND p.outcome IN ('error', 'rejected') ORDER BY p.started_at DESC LIMIT 1),
  last_rejections_at = (SELECT p.started_at FROM poll_log p WHERE p.source = source_state.source
                        AND p.rejections IS NOT NULL ORDER BY p.started_at DESC LIMIT 1),
  last_rejections = (SELECT p.rejections FROM poll_log p WHERE p.source = source_state.source
                     AND p.rejections IS NOT NULL ORDER BY p.started_at DESC LIMIT 1)
"""


def upgrade() -> None:
    with op.batch_alter_table("source_state") as batch:
        batch.add_column(sa.Column("spans_stored", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("flags_raised", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_rejections", sa.Text(), nullable=True))
        batch.add_column(sa.Column("last_rejections_at", sa.DateTime(timezone=True), nullable=True))
    _fill(op.get_bind())


def _fill(bind: sa.Connection) -> None:
    """One row for every source with spans, log rows or flags, then its counts and latest outcomes."""
    # One pass over each table for the counts (no index starts with source on rate_span).
    spans = dict(bind.execute(sa.text("SELECT source, count(*) FROM rate_span GROUP BY source")).all())
    flags = dict(bind.execute(sa.text("SELECT source, count(*) FROM quote_flag GROUP BY source")).all())
    logged = {row[0] for row in bind.execute(sa.text("SELECT DISTINCT source FROM poll_log"))}
    known = {row[0] for row in bind.execute(sa.text("SELECT source FROM source_state"))}
    state = sa.table(
        "source_state",
        sa.column("source", sa.String()),
        sa.column("consecutive_failures", sa.Integer()),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    # The time is written as the application writes it: UTC, and without an offset on SQLite.
    now = datetime.now(UTC)
    if bind.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    new = sorted((set(spans) | set(flags) | logged) - known)
    if new:
        bind.execute(sa.insert(state), [{"source": s, "consecutive_failures": 0, "updated_at": now} for s in new])
    for source in sorted(set(spans) | set(flags)):
        bind.execute(
            sa.text("UPDATE source_state SET spans_stored = :spans, flags_raised = :flags WHERE source = :source"),
            {"spans": spans.get(source, 0), "flags": flags.get(source, 0), "source": source},
        )
    bind.execute(sa.text(_LATEST))


def downgrade() -> None:
    with op.batch_alter_table("source_state") as batch:
        for column in ("last_rejections", "last_error", *_TIMES, "flags_raised", "spans_stored"):
            batch.drop_column(column)
