"""Pair rollups are kept for the intraday source only: a bank's legs change once a day and cross cheaply on a
request, while a table of 40 currencies would be 1,560 pairs to keep current on every poll.

The list of sources is frozen here as it was when this was written (the ticker), not read from the registry.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEPT = ("ticker",)


def upgrade() -> None:
    for table in ("rate_pair_rollup", "rate_pair_rollup_day"):
        op.execute(sa.table(table, sa.column("source")).delete().where(sa.column("source").not_in(_KEPT)))


def downgrade() -> None:
    """The rows are derived and not brought back here: code of 0009 reads a daily source's crosses from them, so
    going back past this revision needs the pair rollups rebuilt (migration 0007's refill)."""
