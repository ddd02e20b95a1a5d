"""Lookups of a series' spans that both the write side and the read side make."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from sqlalchemy import bindparam, union_all
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.storage.models import RateSpan

# Series per statement: SQLite allows at most 500 terms in a compound SELECT.
SERIES_PER_STATEMENT = 200


def latest_spans(
    session: Session, series: Sequence[tuple[str, str]], at: datetime | None = None
) -> dict[tuple[str, str], RateSpan]:
    """The latest begun span of each (currency, source) in `series` that has any (with `at`: begun at or before it).

    One statement: a UNION ALL of one `ORDER BY first_seen DESC LIMIT 1` per series, which SQLite and PostgreSQL
    both answer by reading the last entry of that series in the (currency, source, first_seen) index. (A
    `first_seen = max(first_seen)` subquery correlated with the outer rows runs once per stored span instead.)
    """
    found: dict[tuple[str, str], RateSpan] = {}
    unique = list(dict.fromkeys(series))
    for offset in range(0, len(unique), SERIES_PER_STATEMENT):
        chunk = unique[offset : offset + SERIES_PER_STATEMENT]
        params: dict[str, object] = {
            f"{key}{i}": value for i, pair in enumerate(chunk) for key, value in zip("cs", pair, strict=True)
        }
        if at is not None:
            params["at"] = at
        rows = session.exec(_latest_of(len(chunk), at is not None), params=params)
        found.update(((span.currency, span.source), span) for span in rows)
    return found


@lru_cache(maxsize=32)
def _latest_of(count: int, bounded: bool) -> SelectOfScalar[RateSpan]:
    """The statement of `latest_spans` for `count` series (currency `c<i>`, source `s<i>`, and `at` when
    `bounded`), built once and reused, so that SQLAlchemy compiles it once and a poll only binds its values."""
    lookups = []
    for i in range(count):
        lookup = select(RateSpan).where(RateSpan.currency == bindparam(f"c{i}"), RateSpan.source == bindparam(f"s{i}"))
        if bounded:
            lookup = lookup.where(col(RateSpan.first_seen) <= bindparam("at"))
        lookups.append(lookup.order_by(col(RateSpan.first_seen).desc()).limit(1).subquery())
    return select(aliased(RateSpan, union_all(*(select(one) for one in lookups)).subquery()))
