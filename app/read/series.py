"""Read-side queries over one series (currency, source) of spans: history, change, conversion, data ranges.

Every query is a range or a one-row lookup on the two indexes of rate_span: the unique (currency, source,
first_seen) and (currency, source, last_seen), or (buckets) a range of the primary key of the hourly rollup.
Spans of one series never overlap, so "the spans overlapping [start, end]" are those beginning between the start
of the span in force at `start` and `end`: one ordered index range. Rows are selected as columns, never as ORM
objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from app.domain.calendar import Calendar
from app.domain.steps import USD_LEG, Bucket, Leg, Run, Span, Tail, buckets, crossed, micros, needs_spans
from app.domain.values import Value
from app.storage.models import RateRollup, RateSpan

SPANS: Table = RateSpan.__table__  # type: ignore[attr-defined]
ROLLUP: Table = RateRollup.__table__  # type: ignore[attr-defined]
_C = SPANS.c
_R = ROLLUP.c


@dataclass(frozen=True, slots=True)
class Series:
    currency: str
    source: str
    hold: timedelta  # how long a value stays in force after it was last seen (app.domain.freshness)


def _series(currency: str, source: str) -> ColumnElement[bool]:
    return and_(_C.currency == currency, _C.source == source)


def _span(row: Any) -> Span:
    return Span(
        row.first_seen, row.last_seen, Value.parse(row.value, row.per_usd), row.observations, row.effective_date
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


def span_before(conn: Connection, currency: str, source: str, moment: datetime) -> Span | None:
    """The last span begun strictly before `moment`: what a bucket starting then may carry in."""
    statement = (
        select(*_SPAN_COLUMNS)
        .where(_series(currency, source), _C.first_seen < moment)
        .order_by(_C.first_seen.desc())
        .limit(1)
    )
    row = conn.execute(statement).first()
    return _span(row) if row is not None else None


def spans_after(conn: Connection, currency: str, source: str, after: datetime, end: datetime, limit: int) -> list[Span]:
    """The spans begun after `after` and no later than `end`, oldest first, at most `limit` of them."""
    statement = (
        select(*_SPAN_COLUMNS)
        .where(_series(currency, source), _C.first_seen > after, _C.first_seen <= end)
        .order_by(_C.first_seen)
        .limit(limit)
    )
    return [_span(row) for row in conn.execute(statement)]


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

HOUR = timedelta(hours=1)
_CHUNK = 100  # hours read span by span per statement: one OR-ed index range each
_ROLLUP_COLUMNS = (
    _R.hour, _R.spans, _R.first_seen, _R.first_value, _R.first_per_usd, _R.low_value, _R.low_per_usd, _R.high_value,
    _R.high_per_usd, _R.last_start, _R.last_value, _R.last_per_usd, _R.last_seen, _R.area, _R.inverse_area,
    _R.covered, _R.inner_gap,
)  # fmt: skip


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _run(row: Any, hold: timedelta) -> Run:
    last = Value.parse(row.last_value, row.last_per_usd)
    return Run(
        row.first_seen,
        Value.parse(row.first_value, row.first_per_usd),
        Value.parse(row.low_value, row.low_per_usd),
        Value.parse(row.high_value, row.high_per_usd),
        Tail(row.last_start, last, row.last_seen + hold),
        Decimal(row.area),
        Decimal(row.inverse_area),
        row.covered,
    )


def _spans_in_hours(conn: Connection, series: Series, hours: Iterable[datetime]) -> list[Span]:
    ordered = sorted(set(hours))
    found: list[Span] = []
    for at in range(0, len(ordered), _CHUNK):
        within = or_(*(and_(_C.first_seen >= h, _C.first_seen < h + HOUR) for h in ordered[at : at + _CHUNK]))
        statement = select(*_SPAN_COLUMNS).where(_series(series.currency, series.source), within)
        found += [_span(row) for row in conn.execute(statement.order_by(_C.first_seen))]
    return found


@dataclass(slots=True)
class _Hours:
    """A series over [start, stop) as runs: an hour of the rollup each, or the single spans of an hour."""

    series: Series
    start: datetime
    stop: datetime
    runs: dict[datetime, Run]  # by hour: the rollup's row
    singles: dict[datetime, list[Run]]  # by hour: its spans, one run each

    def leg(self, before: Span | None) -> Leg:
        hours = sorted({*self.runs, *self.singles})
        runs = [run for hour in hours for run in (self.singles[hour] if hour in self.singles else [self.runs[hour]])]
        tail = Tail(before.first_seen, before.value, before.last_seen + self.series.hold) if before else None
        return Leg(tail, runs)

    def read_spans(self, conn: Connection, hours: Iterable[datetime]) -> None:
        """Replace the rollup's row of each of `hours` by the hour's single spans (within [start, stop))."""
        hold = self.series.hold
        wanted = [hour for hour in hours if hour not in self.singles]
        for hour in wanted:
            self.singles[hour] = []
        for span in _spans_in_hours(conn, self.series, wanted):
            if self.start <= span.first_seen < self.stop:
                self.singles[_hour(span.first_seen)].append(
                    Run.single(span.first_seen, span.value, span.last_seen + hold)
                )


def _hours(conn: Connection, series: Series, edges: Sequence[datetime]) -> _Hours:
    """The rollup's rows within the buckets; the hours a bucket boundary cuts (a zone whose offset is not whole
    hours), or whose spans went unseen longer than they hold (a lapse inside the hour), are read span by span."""
    start, stop = edges[0], edges[-1]
    statement = (
        select(*_ROLLUP_COLUMNS)
        .where(_R.currency == series.currency, _R.source == series.source, _R.hour >= _hour(start), _R.hour < stop)
        .order_by(_R.hour)
    )
    limit = micros(series.hold)
    found = _Hours(series, start, stop, {}, {})
    cut = {_hour(edge) for edge in edges if edge != _hour(edge)}
    lapsing = []
    for row in conn.execute(statement):
        if row.hour in cut or (row.spans > 1 and row.inner_gap > limit):
            lapsing.append(row.hour)
        else:
            found.runs[row.hour] = _run(row, series.hold)
    found.read_spans(conn, cut | set(lapsing))
    return found


def edges_of(calendar: Calendar, start: datetime, end: datetime) -> list[datetime]:
    """The starts of the buckets in [start, end], and the end of the last one (the caller bounded their number)."""
    starts = list(calendar.starts(start, end))
    return [*starts, calendar.following(starts[-1])] if starts else []


def _leg(conn: Connection, hours: _Hours | None, edges: Sequence[datetime]) -> Leg:
    if hours is None:
        return USD_LEG
    series = hours.series
    return hours.leg(span_before(conn, series.currency, series.source, edges[0]))


def series_buckets(
    conn: Connection,
    series: Series | None,
    calendar: Calendar,
    start: datetime,
    end: datetime,
    base: Series | None = None,
) -> list[Bucket]:
    """The buckets whose start lies in [start, end] of `series` in USD, or (with `base`) in units of another
    series: the cross of the two legs in force at each instant (app.domain.steps.crossed). None is USD itself."""
    edges = edges_of(calendar, start, end)
    if not edges:
        return []
    quote = _hours(conn, series, edges) if series is not None else None
    if base is None:
        leg = _leg(conn, quote, edges)
        return buckets(edges, leg.before, leg.runs)
    other = _hours(conn, base, edges)
    # Runs of several spans cross as they stand only while the other leg holds still: the rest are read span by span.
    first, second = _leg(conn, quote, edges), _leg(conn, other, edges)
    if quote is not None:
        quote.read_spans(conn, (_hour(run.first_seen) for run in needs_spans(first, second)))
    other.read_spans(conn, (_hour(run.first_seen) for run in needs_spans(second, first)))
    cross = crossed(_leg(conn, quote, edges), _leg(conn, other, edges))
    return buckets(edges, cross.before, cross.runs)
