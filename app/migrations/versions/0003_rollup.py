"""The hourly rollup of rate_span, filled from the spans already stored.

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
    # Derived data: recomputed from the spans with the same code the store keeps it current with (Python, so that
    # the extremes are chosen exactly by Decimal). A year of per-minute spans takes a few seconds. That code
    # follows the current schema, so it only runs where there is something to fill: a new database (the usual
    # case once later migrations change rate_span) never calls it.
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM rate_span LIMIT 1")).first() is not None:
        from app.ingest.rollup import rebuild

        rebuild(bind)


def downgrade() -> None:
    op.drop_table("rate_rollup")
