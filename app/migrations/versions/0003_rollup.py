"""The hourly rollup of rate_span (filled by 0005, which gives it its present form).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_rollup",
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("per_usd", sa.Boolean(), nullable=False),
        sa.Column("spans", sa.Integer(), nullable=False),
        sa.Column("low", sa.String(40), nullable=False),
        sa.Column("high", sa.String(40), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_value", sa.String(40), nullable=False),
        sa.Column("last_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_value", sa.String(40), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("currency", "source", "hour", "per_usd", name="pk_rate_rollup"),
    )
    # Derived data, filled by the code that keeps it current. That code follows the rollup's latest schema, so
    # the filling is left to the migration that made it (0005); a database already past this one was filled here
    # by the code of the time.


def downgrade() -> None:
    op.drop_table("rate_rollup")
