"""Official sources: flags, rejections, per-source state, and the days a backfill has fetched.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("poll_log") as batch:
        batch.add_column(sa.Column("rejections", sa.Text(), nullable=True))
        batch.add_column(sa.Column("flags", sa.Text(), nullable=True))
    op.create_table(
        "quote_flag",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_quote_flag_source_raised", "quote_flag", ["source", "raised_at"])
    op.create_table(
        "source_state",
        sa.Column("source", sa.String(16), primary_key=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("backoff_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "fetched_day",
        sa.Column("source", sa.String(16), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("outcome", sa.String(16), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fetched_day")
    op.drop_table("source_state")
    op.drop_index("ix_quote_flag_source_raised", "quote_flag")
    op.drop_table("quote_flag")
    with op.batch_alter_table("poll_log") as batch:
        batch.drop_column("flags")
        batch.drop_column("rejections")
