"""The hourly rollup becomes one row of runs per series and hour, with time-weighted sums for averages.

Each row now carries the hour's first, lowest, highest and last value with their directions, and the
time-weighted sums of its spans, so that buckets in any time zone, their averages and cross rates in any base
read hours rather than spans (app.domain.steps). Derived data: the table is made anew and refilled from the
spans with the code that keeps it current.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.drop_table("rate_rollup")
    op.create_table(
        "rate_rollup",
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("hour", _TIME, nullable=False),
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
        sa.PrimaryKeyConstraint("currency", "source", "hour", name="pk_rate_rollup"),
    )
    # Derived data: refilled once the schema is at its head, by the code of that schema, in the same transaction
    # (app.ingest.schema): a migration never runs code that changes after it was written.
    if op.get_bind().execute(sa.text("SELECT 1 FROM rate_span LIMIT 1")).first() is not None:
        context.config.attributes["fx_refill_derived"] = True  # app.storage.migrate.REFILL


def downgrade() -> None:
    raise NotImplementedError("the rollup is derived data: restore a backup taken before 0005 to go back")
