"""The span-based bucket computation that app.read.series used before the hourly rollup, kept as the reference the
rollup's answers are checked against: one grouped range scan of rate_span per query."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Float, Numeric, cast, func, select, text
from sqlalchemy.sql.elements import ColumnElement

from app.domain.buckets import Bucket, Group, Interval, Value, bucket_starts, floor, following, ohlc
from app.domain.values import invert
from app.read.series import SPANS, Series, _series, merge_groups, span_before

_C = SPANS.c

_SQLITE_PREFIX = {"1h": 13, "1d": 10, "1mo": 7}  # of the stored text 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC)
_POSTGRES_UNIT = {"1h": "hour", "1d": "day", "1w": "week", "1mo": "month"}  # date_trunc's weeks start on Monday
# SQLite compares the values as doubles. A double tells apart any two decimals of at most 15 significant digits
# (every feed publishes fewer), and its shortest repr gives those digits back; wider values are compared exactly
# in Python instead (see _exact_extremes).
_DOUBLE_SAFE_WIDTH = 15


def _bucket_key(dialect: str, interval: Interval) -> ColumnElement[Any]:
    if dialect == "sqlite":
        if interval == "1w":
            return func.date(_C.first_seen, "-6 days", "weekday 1")  # the Monday on or before
        return func.substr(_C.first_seen, 1, _SQLITE_PREFIX[interval])
    # On the UTC wall time: date_trunc's own time-zone argument costs half the query again.
    return func.date_trunc(_POSTGRES_UNIT[interval], func.timezone("UTC", _C.first_seen))


def bucket_groups(
    conn: Connection, currency: str, source: str, interval: Interval, start: datetime, stop: datetime
) -> list[Group]:
    """What the spans beginning in each bucket of [start, stop) add up to, summed by the database.

    One grouped range scan of the unique index, plus a lookup of the first and the last value of each bucket.
    """
    sqlite = conn.dialect.name == "sqlite"
    number = cast(_C.value, Float if sqlite else Numeric)
    key = _bucket_key(conn.dialect.name, interval)
    sums = (
        select(
            _C.per_usd,
            func.min(number).label("low"),
            func.max(number).label("high"),
            func.max(func.length(_C.value)).label("width"),
            func.min(_C.first_seen).label("first_seen"),
            func.max(_C.first_seen).label("last_start"),
            func.max(_C.last_seen).label("last_seen"),
        )
        .where(_series(currency, source), _C.first_seen >= start, _C.first_seen < stop)
        .group_by(key, _C.per_usd)
        .subquery()
    )
    # The first and last value of each bucket: one lookup each on the unique index (a join would let the planner,
    # who cannot guess how few buckets there are, hash the whole series twice).
    statement = select(
        sums,
        _value_at(currency, source, sums.c.first_seen, "first_value"),
        _value_at(currency, source, sums.c.last_start, "last_value"),
    )
    if not sqlite:
        # The planner cannot tell how few buckets there are, overestimates the cost and JIT-compiles the query,
        # which takes longer than running it.
        conn.execute(text("SET LOCAL jit = off"))
    groups: dict[datetime, Group] = {}
    for row in conn.execute(statement):
        low, high = _extremes(conn, currency, source, row) if sqlite else (row.low, row.high)
        group = _group(interval, row, low, high)
        before = groups.get(group.bucket)
        groups[group.bucket] = group if before is None else merge_groups(before, group)
    return sorted(groups.values(), key=lambda g: g.bucket)


def _value_at(currency: str, source: str, first_seen: ColumnElement[datetime], name: str) -> Any:
    """The value of the span of the series that begins at `first_seen` (a correlated lookup)."""
    found = SPANS.alias(name)
    return (
        select(found.c.value)
        .where(found.c.currency == currency, found.c.source == source, found.c.first_seen == first_seen)
        .scalar_subquery()
        .label(name)
    )


def _group(interval: Interval, row: Any, low: Decimal, high: Decimal) -> Group:
    per_usd: bool = row.per_usd
    # Units per USD fall as USD per unit rises: the smallest value is the highest rate.
    low_rate, high_rate = (invert(high), invert(low)) if per_usd else (low, high)
    return Group(
        bucket=floor(row.first_seen, interval),
        first_seen=row.first_seen,
        first=Value(Decimal(row.first_value), per_usd),
        last=Value(Decimal(row.last_value), per_usd),
        last_seen=row.last_seen,
        low=low_rate,
        high=high_rate,
    )


def _from_double(number: float) -> Decimal | None:
    exact = Decimal(repr(number))
    return exact if exact.is_finite() and len(exact.as_tuple().digits) <= _DOUBLE_SAFE_WIDTH else None


def _extremes(conn: Connection, currency: str, source: str, row: Any) -> tuple[Decimal, Decimal]:
    low, high = _from_double(row.low), _from_double(row.high)
    if low is None or high is None or row.width > _DOUBLE_SAFE_WIDTH:
        return _exact_extremes(conn, currency, source, row.first_seen, row.last_start, row.per_usd)
    return low, high


def _exact_extremes(
    conn: Connection, currency: str, source: str, first: datetime, last: datetime, per_usd: bool
) -> tuple[Decimal, Decimal]:
    statement = select(_C.value).where(
        _series(currency, source), _C.first_seen >= first, _C.first_seen <= last, _C.per_usd == per_usd
    )
    values = [Decimal(value) for value in conn.execute(statement).scalars()]
    return min(values), max(values)


def reference_buckets(
    conn: Connection, series: Series, start: datetime, end: datetime, interval: Interval
) -> list[Bucket]:
    """What app.read.series.series_buckets answered before the rollup."""
    starts = bucket_starts(start, end, interval)
    if not starts:
        return []
    stop = following(starts[-1], interval)
    groups = bucket_groups(conn, series.currency, series.source, interval, starts[0], stop)
    carried = span_before(conn, series.currency, series.source, starts[0])
    return ohlc(starts, carried, groups, series.gap)
