"""Rates a bank publishes before the date they take effect, kept apart from the rates in force.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_announcement",
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("source", sa.String(16), primary_key=True),
        sa.Column("effective_date", sa.Date(), primary_key=True),
        sa.Column("value", sa.String(40), nullable=False),
        sa.Column("per_usd", sa.Boolean(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_announcement")
