"""The daily rollup: the spans of each series that begin within the 24 hours from each UTC hour, summed up.

A daily bucket of any zone whose offset is whole hours reads one row instead of 24 (app.ingest.rollup). Derived
data: refilled after the last migration by the code of that schema.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rate_rollup_day",
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("start", _TIME, nullable=False),
        sa.Column("hour_of_day", sa.Integer(), nullable=False),
        sa.Column("spans", sa.Integer(), nullable=False),
        sa.Column("first_seen", _TIME, nullable=False),
        sa.Column("first_value", sa.String(40), nullable=False),
        sa.Column("first_per_usd", sa.Boolean(), nullable=False),
        sa.Column("low_value", sa.String(40), nullable=False),
        sa.Column("low_per_usd", sa.Boolean(), nullable=False),
        sa.Column("high_value", sa.String(40), nullable=False),
        sa.Column("high_per_usd", sa.Boolean(), nullable=False),
        sa.Column("last_start", _TIME, nullable=False),
        sa.Column("last_value", sa.String(40), nullable=False),
        sa.Column("last_per_usd", sa.Boolean(), nullable=False),
        sa.Column("last_seen", _TIME, nullable=False),
        sa.Column("area", sa.String(80), nullable=False),
        sa.Column("inverse_area", sa.String(80), nullable=False),
        sa.Column("covered", sa.BigInteger(), nullable=False),
        sa.Column("inner_gap", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("currency", "source", "start", name="pk_rate_rollup_day"),
    )
    op.create_index("ix_rate_rollup_day_series_hour_start", "rate_rollup_day",
                    ["currency", "source", "hour_of_day", "start"])  # fmt: skip
    # Derived data: refilled once the schema is at its head, by the code of that schema, in the same transaction
    # (app.ingest.schema): a migration never runs code that changes after it was written.
    if op.get_bind().execute(sa.text("SELECT 1 FROM rate_span LIMIT 1")).first() is not None:
        context.config.attributes["fx_refill_derived"] = True  # app.storage.migrate.REFILL


def downgrade() -> None:
    op.drop_table("rate_rollup_day")
