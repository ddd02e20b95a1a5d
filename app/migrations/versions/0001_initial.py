"""Rate spans, poll log and the change marker.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_span",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("value", sa.String(40), nullable=False),
        sa.Column("per_usd", sa.Boolean(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=True),
        sa.Column("reported_change_pct", sa.String(40), nullable=True),
        sa.UniqueConstraint("currency", "source", "first_seen", name="uq_rate_span_series_start"),
    )
    op.create_index("ix_rate_span_series_last_seen", "rate_span", ["currency", "source", "last_seen"])
    op.create_table(
        "poll_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("poller", sa.String(80), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("entries_seen", sa.Integer(), nullable=False),
        sa.Column("spans_opened", sa.Integer(), nullable=False),
        sa.Column("spans_extended", sa.Integer(), nullable=False),
    )
    op.create_index("ix_poll_log_source_started", "poll_log", ["source", "started_at"])
    version = op.create_table(
        "data_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.bulk_insert(version, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("data_version")
    op.drop_index("ix_poll_log_source_started", "poll_log")
    op.drop_table("poll_log")
    op.drop_index("ix_rate_span_series_last_seen", "rate_span")
    op.drop_table("rate_span")
