"""The pair rollups: the cross of every two series of one source, summed up per UTC hour and per 24 hours from
each hour, so that a year of a cross in another base reads rows rather than crossing every span of both legs
(app.ingest.pairs). Derived data: refilled after the last migration by the code of that schema.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def _sums() -> list[sa.Column]:
    return [
        sa.Column("spans", sa.Integer(), nullable=False),
        sa.Column("first_seen", _TIME, nullable=False),
        sa.Column("first", sa.String(90), nullable=False),
        sa.Column("low", sa.String(90), nullable=False),
        sa.Column("high", sa.String(90), nullable=False),
        sa.Column("last_start", _TIME, nullable=False),
        sa.Column("last", sa.String(90), nullable=False),
        sa.Column("last_seen", _TIME, nullable=False),
        sa.Column("area", sa.String(80), nullable=False),
        sa.Column("inverse_area", sa.String(80), nullable=False),
        sa.Column("covered", sa.BigInteger(), nullable=False),
        sa.Column("inner_gap", sa.BigInteger(), nullable=False),
    ]


def _pair() -> list[sa.Column]:
    return [
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("base", sa.String(3), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "rate_pair_rollup",
        *_pair(),
        sa.Column("hour", _TIME, nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint("currency", "base", "source", "hour", name="pk_rate_pair_rollup"),
    )
    op.create_table(
        "rate_pair_rollup_day",
        *_pair(),
        sa.Column("start", _TIME, nullable=False),
        sa.Column("hour_of_day", sa.Integer(), nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint("currency", "base", "source", "start", name="pk_rate_pair_rollup_day"),
    )
    op.create_index("ix_rate_pair_rollup_day_series_hour_start", "rate_pair_rollup_day",
                    ["currency", "base", "source", "hour_of_day", "start"])  # fmt: skip
    # Derived data: refilled once the schema is at its head, by the code of that schema, in the same transaction
    # (app.ingest.schema): a migration never runs code that changes after it was written.
    if op.get_bind().execute(sa.text("SELECT 1 FROM rate_span LIMIT 1")).first() is not None:
        context.config.attributes["fx_refill_derived"] = True  # app.storage.migrate.REFILL


def downgrade() -> None:
    op.drop_table("rate_pair_rollup_day")
    op.drop_table("rate_pair_rollup")
