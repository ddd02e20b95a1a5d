"""Read-side queries over one series (currency, source) of spans: history, change, conversion, data ranges.

Every query is a range or a one-row lookup on the two indexes of rate_span: the unique (currency, source,
first_seen) and (currency, source, last_seen), or (buckets) a range of the primary key of the hourly rollup.
Spans of one series never overlap, so "the spans overlapping [start, end]" are those beginning between the start
of the span in force at `start` and `end`: one ordered index range. Rows are selected as columns, never as ORM
objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, DateTime, Table, and_, func, select, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from app.domain.buckets import Bucket, Carried, Group, Interval, bucket_starts, floor, following, ohlc
from app.domain.values import Value, invert
from app.storage.models import RateRollup, RateSpan

SPANS: Table = RateSpan.__table__  # type: ignore[attr-defined]
ROLLUP: Table = RateRollup.__table__  # type: ignore[attr-defined]
_C = SPANS.c
_R = ROLLUP.c


@dataclass(frozen=True, slots=True)
class Series:
    currency: str
    source: str
    gap: timedelta  # how long a value stays in force after it was last seen


@dataclass(frozen=True, slots=True)
class Span:
    value: Value
    first_seen: datetime
    last_seen: datetime
    observations: int = 1
    effective_date: date | None = None

    @property
    def rate(self) -> Decimal:
        return self.value.rate


def _series(currency: str, source: str) -> ColumnElement[bool]:
    return and_(_C.currency == currency, _C.source == source)


def _span(row: Any) -> Span:
    return Span(
        Value(Decimal(row.value), row.per_usd), row.first_seen, row.last_seen, row.observations, row.effective_date
    )


_SPAN_COLUMNS = (_C.value, _C.per_usd, _C.first_seen, _C.last_seen, _C.observations, _C.effective_date)


def span_at(conn: Connection, currency: str, source: str, moment: datetime) -> Span | None:
    """The last span begun at or before `moment`: the last known value then (whether or not it lapsed)."""
    statement = (
        select(*_SPAN_COLUMNS)
        .where(_series(currency, source), _C.first_seen <= moment)
        .order_by(_C.first_seen.desc())
        .limit(1)
    )
    row = conn.execute(statement).first()
    return _span(row) if row is not None else None


def first_span_after(conn: Connection, currency: str, source: str, moment: datetime) -> Span | None:
    """The first span begun after `moment`."""
    statement = (
        select(*_SPAN_COLUMNS).where(_series(currency, source), _C.first_seen > moment).order_by(_C.first_seen).limit(1)
    )
    row = conn.execute(statement).first()
    return _span(row) if row is not None else None


def span_before(conn: Connection, currency: str, source: str, moment: datetime) -> Carried | None:
    """The last span begun strictly before `moment`: what a bucket starting then may carry in."""
    statement = (
        select(_C.value, _C.per_usd, _C.last_seen)
        .where(_series(currency, source), _C.first_seen < moment)
        .order_by(_C.first_seen.desc())
        .limit(1)
    )
    row = conn.execute(statement).first()
    return Carried(Value(Decimal(row.value), row.per_usd), row.last_seen) if row is not None else None


def start_of_span_at(conn: Connection, currency: str, source: str, moment: datetime) -> datetime | None:
    """When the span in force at `moment` began: no span overlapping `moment` or later begins before it."""
    statement = select(func.max(_C.first_seen)).where(_series(currency, source), _C.first_seen <= moment)
    found: datetime | None = conn.execute(statement).scalar()
    return found


def _overlapping(currency: str, source: str, lower: datetime, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(_series(currency, source), _C.first_seen >= lower, _C.first_seen <= end, _C.last_seen >= start)


def overlaps(conn: Connection, currency: str, source: str, start: datetime, end: datetime) -> bool:
    """Whether any span of the series overlaps [start, end]."""
    lower = start_of_span_at(conn, currency, source, start) or start
    statement = select(_C.id).where(_overlapping(currency, source, lower, start, end)).limit(1)
    return conn.execute(statement).first() is not None


def spans_between(
    conn: Connection, currency: str, source: str, start: datetime, end: datetime, limit: int
) -> list[Span]:
    """The spans that overlap [start, end], oldest first, at most `limit` of them."""
    lower = start_of_span_at(conn, currency, source, start) or start
    statement = (
        select(*_SPAN_COLUMNS)
        .where(_overlapping(currency, source, lower, start, end))
        .order_by(_C.first_seen)
        .limit(limit)
    )
    return [_span(row) for row in conn.execute(statement)]


def raw_extent(conn: Connection, currency: str, source: str, start: datetime, end: datetime) -> tuple[object, ...]:
    """What decides a raw answer for [start, end]: the start of its first and of its last span (two index lookups).

    Two ranges that overlap the same spans give the same answer, so this (with the data version) keys its cache:
    the default range ends at "now", which differs on every request while the spans it covers do not.
    """
    held = span_at(conn, currency, source, start)
    first = held if held is not None and held.last_seen >= start else first_span_after(conn, currency, source, start)
    last = span_at(conn, currency, source, end)
    if first is None or last is None or first.first_seen > end:
        return ("empty",)
    return (first.first_seen, last.first_seen)


def has_spans(conn: Connection, currency: str, source: str) -> bool:
    return conn.execute(select(_C.id).where(_series(currency, source)).limit(1)).first() is not None


def stored_range(conn: Connection, currency: str, source: str) -> tuple[datetime, datetime] | None:
    """When the series begins and when it was last seen (two index lookups), or None when it is empty."""
    first = select(func.min(_C.first_seen)).where(_series(currency, source)).scalar_subquery()
    last = select(func.max(_C.last_seen)).where(_series(currency, source)).scalar_subquery()
    row = conn.execute(select(first.label("first"), last.label("last"))).one()
    return (row.first, row.last) if row.first is not None else None


# --- buckets -----------------------------------------------------------------------------------------------

_PARTITION = 500


def bucket_groups(
    conn: Connection, currency: str, source: str, interval: Interval, start: datetime, stop: datetime
) -> list[Group]:
    """What the spans beginning in each bucket of [start, stop) add up to, from the hourly rollup (app.ingest.rollup).

    One range scan of the rollup's primary key (at most 8,784 rows a year per direction); every bucket is whole
    UTC hours, so its group is the hours' rows combined: the first of the firsts, the last of the lasts, the
    extremes of the extremes (exactly, by Decimal). `start` and `stop` are bucket starts, so whole hours.
    """
    # The times come as naive UTC (not through UTCDateTime, which costs more than the rest of the loop) and are
    # made aware only for the rows that end up in a group.
    hour, first_seen, last_seen = (_naive_utc(conn, c) for c in (_R.hour, _R.first_seen, _R.last_seen))
    statement = (
        select(hour, _R.per_usd, _R.low, _R.high, first_seen, _R.first_value, _R.last_value, last_seen)
        .where(_R.currency == currency, _R.source == source, _R.hour >= start, _R.hour < stop)
        .order_by(_R.hour)
    )
    hourly = interval == "1h"
    buckets: dict[date, datetime] = {}  # a day, week or month start depends on the date alone
    # (bucket, per_usd) -> [first_seen, first_value, last_value, last_seen, low, high]; rows come hour by hour,
    # and hours do not overlap, so the first row of a bucket holds its first span and the latest its last.
    sums: dict[tuple[datetime, bool], list[Any]] = {}
    # In small partitions: rows that die young are never promoted, so no full garbage collection is triggered.
    rows = (row for part in conn.execute(statement).partitions(_PARTITION) for row in part)
    for start_of_hour, per_usd, low, high, first, first_value, last_value, last in rows:
        if hourly:
            bucket = start_of_hour.replace(tzinfo=UTC)
        elif (bucket := buckets.get(day := start_of_hour.date())) is None:
            bucket = buckets[day] = floor(start_of_hour.replace(tzinfo=UTC), interval)
        found = sums.get((bucket, per_usd))
        if found is None:
            sums[bucket, per_usd] = [first, first_value, last_value, last, Decimal(low), Decimal(high)]
            continue
        found[2] = last_value
        if last > found[3]:
            found[3] = last
        if (number := Decimal(low)) < found[4]:
            found[4] = number
        if (number := Decimal(high)) > found[5]:
            found[5] = number
    groups: dict[datetime, Group] = {}
    for (bucket, per_usd), (first_seen, first_value, last_value, last_seen, low, high) in sums.items():
        first, last = first_seen.replace(tzinfo=UTC), last_seen.replace(tzinfo=UTC)
        group = make_group(bucket, per_usd, first, first_value, last_value, last, low, high)
        before = groups.get(bucket)
        groups[bucket] = group if before is None else merge_groups(before, group)
    return sorted(groups.values(), key=lambda g: g.bucket)


def _naive_utc(conn: Connection, column: ColumnElement[datetime]) -> ColumnElement[datetime]:
    """A time column as a naive UTC datetime: SQLite stores the UTC text, PostgreSQL converts timestamptz."""
    if conn.dialect.name == "sqlite":
        return type_coerce(column, DateTime())
    return func.timezone("UTC", column, type_=DateTime())


def make_group(
    bucket: datetime,
    per_usd: bool,
    first_seen: datetime,
    first_value: str,
    last_value: str,
    last_seen: datetime,
    low: Decimal,
    high: Decimal,
) -> Group:
    """The group of one direction's spans in a bucket; `low` and `high` are values, not rates."""
    # Units per USD fall as USD per unit rises: the smallest value is the highest rate.
    low_rate, high_rate = (invert(high), invert(low)) if per_usd else (low, high)
    return Group(
        bucket=bucket,
        first_seen=first_seen,
        first=Value(Decimal(first_value), per_usd),
        last=Value(Decimal(last_value), per_usd),
        last_seen=last_seen,
        low=low_rate,
        high=high_rate,
    )


def merge_groups(a: Group, b: Group) -> Group:
    """Two groups of one bucket: a series whose source changed direction within it (both are kept exact)."""
    earlier = a if a.first_seen < b.first_seen else b
    last = a if a.last_seen > b.last_seen else b  # spans do not overlap: the last seen is the last begun
    return Group(
        a.bucket, earlier.first_seen, earlier.first, last.last, last.last_seen, min(a.low, b.low), max(a.high, b.high)
    )


def series_buckets(
    conn: Connection, series: Series, start: datetime, end: datetime, interval: Interval
) -> list[Bucket]:
    """The buckets of one series whose start lies in [start, end] (the caller has bounded their number)."""
    starts = bucket_starts(start, end, interval)
    if not starts:
        return []
    stop = following(starts[-1], interval)
    groups = bucket_groups(conn, series.currency, series.source, interval, starts[0], stop)
    carried = span_before(conn, series.currency, series.source, starts[0])
    return ohlc(starts, carried, groups, series.gap)
