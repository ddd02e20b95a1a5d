"""Lookups of a series' spans that both the write side and the read side make."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, or_, union_all
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.domain.steps import Span
from app.domain.values import Value
from app.storage.models import RateSpan

# Series per statement: SQLite allows at most 500 terms in a compound SELECT.
SERIES_PER_STATEMENT = 200
STRETCHES_PER_STATEMENT = 100  # stretches of time per statement: one OR-ed index range each
SPANS: Table = RateSpan.__table__  # type: ignore[attr-defined]
SPAN_COLUMNS = (SPANS.c.value, SPANS.c.per_usd, SPANS.c.first_seen, SPANS.c.last_seen)


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


def series_of(currency: str, source: str) -> Any:
    return and_(SPANS.c.currency == currency, SPANS.c.source == source)


def span_of(row: Any) -> Span:
    return Span(row.first_seen, row.last_seen, Value.parse(row.value, row.per_usd))


def spans_of_stretches(
    conn: Connection, currency: str, source: str, stretches: Sequence[tuple[datetime, datetime]]
) -> list[list[Span]]:
    """For each stretch [a, b) of hours: the span of the series begun last before `a` (if any), then those that
    begin within it, oldest first: every span a piece beginning within the stretch can hold."""
    found: list[list[Span]] = []
    for at in range(0, len(stretches), STRETCHES_PER_STATEMENT):
        chunk = stretches[at : at + STRETCHES_PER_STATEMENT]
        within = or_(*(and_(series_of(currency, source), SPANS.c.first_seen >= a, SPANS.c.first_seen < b)
                       for a, b in chunk))  # fmt: skip
        statement = sa_select(*SPAN_COLUMNS).where(within).order_by(SPANS.c.first_seen)
        inside = [span_of(row) for row in conn.execute(statement)]
        k = 0
        for a, b in chunk:
            before = conn.execute(
                sa_select(*SPAN_COLUMNS)
                .where(series_of(currency, source), SPANS.c.first_seen < a)
                .order_by(SPANS.c.first_seen.desc())
                .limit(1)
            ).first()
            spans = [span_of(before)] if before is not None else []
            while k < len(inside) and inside[k].first_seen < b:
                spans.append(inside[k])
                k += 1
            found.append(spans)
    return found
