"""Read-side queries over one series (currency, source) of spans: history, change, conversion, data ranges.

Every query is a range or a one-row lookup on the two indexes of rate_span: the unique (currency, source,
first_seen) and (currency, source, last_seen), or (buckets) ranges of the keys of the hourly and daily rollups.
Spans of one series never overlap, so "the spans overlapping [start, end]" are those beginning between the start
of the span in force at `start` and `end`: one ordered index range. Rows are selected as columns, never as ORM
objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

from sqlalchemy import Connection, Table, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from app.core.abandon import checkpoint
from app.domain.calendar import HOUR, Calendar, consecutive, hour_ranges
from app.domain.pairing import Crossing, crossings, level_text, parse_level
from app.domain.steps import NEVER, USD_LEG, Bucket, Leg, Level, Run, Span, Tail, buckets, cross_legs, micros
from app.domain.values import EXACT, Value
from app.sources.registry import rolls_up_pairs
from app.storage.dialect import naive_parser, naive_utc
from app.storage.models import RatePairRollup, RatePairRollupDay, RateRollup, RateRollupDay, RateSpan
from app.storage.spans import spans_of_stretches

SPANS: Table = RateSpan.__table__  # type: ignore[attr-defined]
ROLLUP: Table = RateRollup.__table__  # type: ignore[attr-defined]
ROLLUP_DAY: Table = RateRollupDay.__table__  # type: ignore[attr-defined]
PAIR_ROLLUP: Table = RatePairRollup.__table__  # type: ignore[attr-defined]
PAIR_ROLLUP_DAY: Table = RatePairRollupDay.__table__  # type: ignore[attr-defined]
_C = SPANS.c
_R = ROLLUP.c


@dataclass(frozen=True, slots=True)
class Series:
    currency: str
    source: str
    hold: timedelta  # how long a value stays in force after it was last seen (app.domain.freshness)
    base: str | None = None  # the cross of `currency` in units of this currency of the same source (app.ingest.pairs)


def _series(currency: str, source: str) -> ColumnElement[bool]:
    return and_(_C.currency == currency, _C.source == source)


def _span(row: Any) -> Span:
    value = Value.parse(row.value, row.per_usd)
    return Span(row.first_seen, row.last_seen, value, row.observations, row.effective_date, row.next_update)


_SPAN_COLUMNS = (
    _C.value, _C.per_usd, _C.first_seen, _C.last_seen, _C.observations, _C.effective_date, _C.next_update
)  # fmt: skip


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


def count_between(conn: Connection, currency: str, source: str, start: datetime, end: datetime, limit: int) -> int:
    """How many spans overlap [start, end], counted up to `limit` (an index range scan that stops there): enough to
    refuse an answer that would be too big before reading any of it."""
    lower = start_of_span_at(conn, currency, source, start) or start
    found = select(_C.id).where(_overlapping(currency, source, lower, start, end)).limit(limit).subquery()
    return int(conn.execute(select(func.count()).select_from(found)).scalar_one())


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


def cross_leg_extent(conn: Connection, series: Series, start: datetime, end: datetime) -> tuple[object, ...]:
    """What decides a leg's part of a raw cross over [start, end] besides the data: app.read.history.cross_page
    reads the leg from the span begun last at or before `start` (last seen before it, that span may still hold into
    the range), then the spans begun up to `end`, and lists a stretch begun before `start` only when both its legs
    were seen since. So: that span, whether it began before `start` and whether it was seen since, and the last
    span begun by `end`. Two index lookups, as raw_extent."""
    held = span_at(conn, series.currency, series.source, start)
    last = span_at(conn, series.currency, series.source, end)
    if last is None:
        return ("empty",)
    if held is None:
        return (None, last.first_seen)
    return (held.first_seen, held.first_seen < start, held.last_seen >= start, last.first_seen)


def leg_page(
    conn: Connection, series: Series, after: datetime, end: datetime, limit: int
) -> tuple[list[Span], datetime]:
    """The span of `series` begun last at or before `after` (last seen before it, it may still hold then), then up
    to `limit` spans begun after it (up to `end`); and where the next page of the series would begin (NEVER: this
    was its last). A leg of a cross as app.read.history.cross_page reads it, a page at a time."""
    held = span_at(conn, series.currency, series.source, after)
    page = spans_after(conn, series.currency, series.source, after, end, limit + 1)
    following = page[limit].first_seen if len(page) > limit else NEVER
    return ([held] if held is not None else []) + page[:limit], following


def has_spans(conn: Connection, currency: str, source: str) -> bool:
    return conn.execute(select(_C.id).where(_series(currency, source)).limit(1)).first() is not None


def stored_range(conn: Connection, currency: str, source: str) -> tuple[datetime, datetime] | None:
    """When the series begins and when it was last seen (two index lookups), or None when it is empty."""
    first = select(func.min(_C.first_seen)).where(_series(currency, source)).scalar_subquery()
    last = select(func.max(_C.last_seen)).where(_series(currency, source)).scalar_subquery()
    row = conn.execute(select(first.label("first"), last.label("last"))).one()
    return (row.first, row.last) if row.first is not None else None


# --- buckets -----------------------------------------------------------------------------------------------
#
# A series over a range is read from the rollups: a day row for each 24 whole hours a bucket holds (a year of
# daily buckets in a zone whose offset is whole hours is 365 rows, of weeks 364), an hour row for each other hour
# with spans, or the single spans of an hour where no row can serve: an hour a bucket boundary cuts (a zone whose
# offset is not whole hours), an hour whose spans went unseen longer than they hold (a lapse inside it), and (for
# a cross) an hour during which the other leg changes too. A day row that cannot serve (a lapse, or the other leg
# changing, within it) is read as its hours first. Consecutive rows then join into one run per stretch that
# nothing cuts (a bucket boundary, or a change or lapse of the other leg), so the sweep sees a run or two per
# bucket. Times are naive UTC inside this section: turned aware once per run, not once per row.

DAY = timedelta(hours=24)
# A cross reads span by span the hours in which both legs move, and crosses them one by one in Python: about
# 20 µs a span. Beyond this many in one answer (a month of both legs changing every minute), it asks for less.
MAX_CROSSED_SPANS = 100_000


class TooMuchWork(ValueError):
    """An answer that would cost more than one request may; the message says what to ask instead."""


_CHUNK = 100  # stretches of hours read span by span per statement: one OR-ed index range each
_NEVER = datetime.max
_TICK = timedelta(microseconds=1)  # the resolution of stored times
_ZERO = Decimal(0)


# A level as a row keeps it: a published value and its direction, or (a pair row) both legs' as one text.
LevelKey = tuple[str, bool] | str


@dataclass(slots=True)
class _Item:
    """A rollup row, or one span of an hour read span by span: what a run is made of."""

    first_seen: datetime
    first: LevelKey
    low: LevelKey
    high: LevelKey
    last_start: datetime
    last: LevelKey
    last_seen: datetime
    area: str = "0"
    inverse_area: str = "0"
    covered: int = 0
    spans: int = 1
    inner_gap: int = 0
    key: datetime | None = None  # the row's hour or day start (None: a single span)

    @classmethod
    def of_span(cls, span: Span) -> _Item:
        value = (span.value.text, span.value.per_usd)
        first, last = span.first_seen.replace(tzinfo=None), span.last_seen.replace(tzinfo=None)
        return cls(first, value, value, value, first, value, last)

    @classmethod
    def of_piece(cls, piece: Crossing) -> _Item:
        """One piece of a cross, its level as a pair row keeps it."""
        level = level_text(piece.value)
        first, last = piece.first_seen.replace(tzinfo=None), piece.last_seen.replace(tzinfo=None)
        return cls(first, level, level, level, first, level, last)


@dataclass(slots=True)
class _Leg:
    """One series over the buckets' range, as items (oldest first), and the span before the range."""

    series: Series
    items: list[_Item]
    before: Span | Crossing | None

    def lapses(self) -> list[datetime]:
        """The instants the series stops being in force before its next item begins."""
        hold = self.series.hold
        found = []
        following = [item.first_seen for item in self.items[1:]] + [_NEVER]
        for item, after in zip(self.items, following, strict=False):
            if item.last_seen + hold < after:
                found.append(item.last_seen + hold)
        if self.before is not None:
            ends = self.before.last_seen.replace(tzinfo=None) + hold
            if not self.items or ends < self.items[0].first_seen:
                found.insert(0, ends)
        return found


_ROLLUP_VALUES = ("first_value", "first_per_usd", "low_value", "low_per_usd", "high_value", "high_per_usd",
                  "last_value", "last_per_usd", "area", "inverse_area", "covered", "spans", "inner_gap")  # fmt: skip
_PAIR_VALUES = ("first", "low", "high", "last", "area", "inverse_area", "covered", "spans", "inner_gap")


def _rows(
    conn: Connection, table: Table, key: str, series: Series, within: ColumnElement[bool]
) -> dict[datetime, _Item]:
    """The rollup rows of the series in `table` (hours or days) that `within` selects, by their `key` (naive UTC)."""
    c = table.c
    times = [naive_utc(conn, c[name]) for name in (key, "first_seen", "last_start", "last_seen")]
    pair = series.base is not None
    values = _PAIR_VALUES if pair else _ROLLUP_VALUES
    statement = (
        select(*times, *(c[name] for name in values))
        .where(c.currency == series.currency, c.source == series.source, within)
        .order_by(c[key])
    )
    if pair:
        statement = statement.where(c.base == series.base)
    parse = naive_parser(conn)
    found = {}
    checkpoint()
    for part in conn.execute(statement).partitions(1000):  # fetched a thousand at once
        checkpoint()
        if pair:
            for start, first, last_start, seen, fv, lov, hiv, lv, area, inverse, covered, spans, gap in part:
                moment = parse(start)
                found[moment] = _Item(parse(first), fv, lov, hiv, parse(last_start), lv, parse(seen), area,
                                      inverse, covered, spans, gap, moment)  # fmt: skip
            continue
        for row in part:
            start, first, last_start, seen, fv, fp, lov, lop, hiv, hip, lv, lp, area, inverse, covered, spans, gap = row
            moment = parse(start)
            found[moment] = _Item(parse(first), (fv, fp), (lov, lop), (hiv, hip), parse(last_start), (lv, lp),
                                  parse(seen), area, inverse, covered, spans, gap, moment)  # fmt: skip
    return found


def _hour(moment: datetime) -> datetime:
    if not (moment.minute or moment.second or moment.microsecond):
        return moment  # a bucket boundary, mostly: replace() costs a microsecond
    return moment.replace(minute=0, second=0, microsecond=0)


def _spans_in_hours(conn: Connection, series: Series, hours: Iterable[datetime]) -> list[Span]:
    """The spans of the series that begin within `hours`, oldest first. Consecutive hours are one range, and each
    range names the series: SQLite walks an index for an OR only when every one of its terms can use it (with the
    series outside the OR, it read the whole series once per statement)."""
    stretches = hour_ranges(hours)
    found: list[Span] = []
    for at in range(0, len(stretches), _CHUNK):
        checkpoint()
        within = or_(
            *(
                and_(_series(series.currency, series.source), _C.first_seen >= begin, _C.first_seen < end)
                for begin, end in stretches[at : at + _CHUNK]
            )
        )
        found += [_span(row) for row in conn.execute(select(*_SPAN_COLUMNS).where(within).order_by(_C.first_seen))]
    return found


def _plan(edges: Sequence[datetime]) -> tuple[list[datetime], list[datetime]]:
    """How to read the buckets [edges[i], edges[i+1]) (naive UTC, sorted): the starts of the 24 hours each holds
    whole, from its first whole hour on (a day of a zone whose offset is whole hours is one, a week seven), and
    the other hours they touch."""
    days: list[datetime] = []
    hours: list[datetime] = []
    for begin, end in pairwise(edge.replace(tzinfo=None) for edge in edges):
        hour = _hour(begin)
        if hour < begin:  # a boundary within the hour: the hour is read on its own
            hours.append(hour)
            hour += HOUR
        whole = _hour(end)
        while hour + DAY <= whole:
            days.append(hour)
            hour += DAY
        while hour < end:
            hours.append(hour)
            hour += HOUR
    return days, sorted(set(hours))


def _day_run(table: Table, first: datetime, last: datetime) -> ColumnElement[bool]:
    """The day rows from `first` to `last` (naive UTC) at the same hour as `first`: one range of an index (a list
    of starts would bind every one of them, which costs more)."""
    c = table.c
    return and_(c.hour_of_day == first.hour, c.start >= first.replace(tzinfo=UTC), c.start <= last.replace(tzinfo=UTC))


class _Reader:
    """A series over [start, stop): its day rows where a bucket holds 24 whole hours, its hour rows elsewhere, and
    the single spans of the hours where neither can serve. Each level is refined into the next where needed."""

    def __init__(self, conn: Connection, series: Series, edges: Sequence[datetime]) -> None:
        self.conn, self.series = conn, series
        self.start, self.stop = edges[0], edges[-1]
        self.limit = micros(series.hold)
        self.hour_table, day_table = (ROLLUP, ROLLUP_DAY) if series.base is None else (PAIR_ROLLUP, PAIR_ROLLUP_DAY)
        starts, hours = _plan(edges)
        self.days: dict[datetime, _Item] = {}
        runs = consecutive(starts, DAY)
        for at in range(0, len(runs), _CHUNK):
            within = or_(*(_day_run(day_table, *run) for run in runs[at : at + _CHUNK]))
            self.days |= _rows(conn, day_table, "start", series, within)
        self.hours: dict[datetime, _Item] = {}
        self.singles: dict[datetime, list[_Item]] = {}
        self.read_hours(hours)
        # A row of one span has no gap; one of a pair may (a piece one of whose legs had lapsed when it began).
        self.split_days([day for day, row in self.days.items() if row.inner_gap > self.limit])
        cut = {_hour(edge).replace(tzinfo=None) for edge in edges if edge != _hour(edge)}
        self.read_spans(cut)

    def read_hours(self, hours: Sequence[datetime]) -> None:
        """Read the hour rows of `hours` (naive UTC, sorted); those whose spans lapse inside, span by span."""
        found: dict[datetime, _Item] = {}
        stretches = hour_ranges(hours)
        for at in range(0, len(stretches), _CHUNK):
            r = self.hour_table.c
            within = or_(*(and_(r.hour >= a.replace(tzinfo=UTC), r.hour < b.replace(tzinfo=UTC))
                           for a, b in stretches[at : at + _CHUNK]))  # fmt: skip
            found |= _rows(self.conn, self.hour_table, "hour", self.series, within)
        self.hours |= found
        self.read_spans([hour for hour, row in found.items() if row.inner_gap > self.limit])

    def split_days(self, days: Iterable[datetime]) -> bool:
        """Replace each of `days` that is a day row by its hour rows; whether any was."""
        split = sorted(day for day in set(days) if self.days.pop(day, None) is not None)
        self.read_hours([day + k * HOUR for day in split for k in range(24)])
        return bool(split)

    def spans_in(self, hours: Iterable[datetime]) -> int:
        """How many spans reading `hours` span by span would give (their rows say)."""
        return sum(row.spans for hour in hours if hour not in self.singles and (row := self.hours.get(hour)))

    def read_spans(self, hours: Iterable[datetime]) -> None:
        """Replace the row of each of `hours` (naive UTC) by the hour's single spans within [start, stop)."""
        wanted = [hour for hour in hours if hour not in self.singles]
        for hour in wanted:
            self.singles[hour] = []
        aware = [hour.replace(tzinfo=UTC) for hour in wanted]
        if self.series.base is not None:
            self.read_pieces(aware)
            return
        for span in _spans_in_hours(self.conn, self.series, aware):
            if self.start <= span.first_seen < self.stop:
                self.singles[_hour(span.first_seen).replace(tzinfo=None)].append(_Item.of_span(span))

    def read_pieces(self, hours: Sequence[datetime]) -> None:
        """The single pieces of the cross beginning within `hours` (aware UTC), crossed from both legs' spans;
        a piece one of whose legs had lapsed when it began was never in force, and is left out."""
        series, hold = self.series, self.series.hold
        assert series.base is not None
        stretches = hour_ranges(hours)
        quote, base = (
            spans_of_stretches(self.conn, code, series.source, stretches) for code in (series.currency, series.base)
        )
        for (begin, end), quote_spans, base_spans in zip(stretches, quote, base, strict=True):
            checkpoint()
            for piece in crossings(quote_spans, base_spans):
                inside = begin <= piece.first_seen < end and self.start <= piece.first_seen < self.stop
                if inside and piece.first_seen <= piece.last_seen + hold:
                    self.singles[_hour(piece.first_seen).replace(tzinfo=None)].append(_Item.of_piece(piece))

    def leg(self) -> _Leg:
        # Days, hours and single spans cover distinct stretches, so their keys order them.
        parts = [(day, [row]) for day, row in self.days.items()]
        parts += [(hour, [row]) for hour, row in self.hours.items() if hour not in self.singles]
        parts += list(self.singles.items())
        items = [item for _, found in sorted(parts, key=_first) for item in found]
        series = self.series
        return _Leg(series, items, self.before())

    def before(self) -> Span | Crossing | None:
        """The span (of a cross: the piece) begun last before the range."""
        series = self.series
        quote = span_before(self.conn, series.currency, series.source, self.start)
        if series.base is None or quote is None:
            return quote
        base = span_before(self.conn, series.base, series.source, self.start)
        return next(crossings([quote], [base]), None) if base is not None else None


def _first(part: tuple[datetime, list[_Item]]) -> datetime:
    return part[0]


def _unsteady(leg: _Leg, other: _Leg) -> list[datetime]:
    """The keys (naive UTC) of `leg`'s rows of several spans during which `other` does not hold one level: one
    of its items begins or ends within the row's stretch, or it lapses there. Read span by span, they cross
    exactly."""
    found = []
    lapses = other.lapses()
    items, j, k = other.items, 0, 0
    for item in leg.items:
        if item.spans == 1:
            continue
        begin, end = item.first_seen, item.last_start
        while j < len(items) and items[j].last_start < begin:
            j += 1  # items that ended their changes before this one: the others may overlap it
        while k < len(lapses) and lapses[k] < begin:
            k += 1
        changes = j < len(items) and items[j].first_seen <= end
        if (changes or (k < len(lapses) and lapses[k] <= end)) and item.key is not None:
            found.append(item.key)
    return found


class _Chain:
    """Consecutive items joined into one run: their sums, and the stretches between them, each in force until
    the next item began or it lapsed."""

    __slots__ = ("area", "covered", "first", "first_seen", "high", "high_in_base", "inverse_area", "last", "last_seen",
                 "last_start", "low", "low_in_base")  # fmt: skip

    def __init__(self, item: _Item, exact: _Exact) -> None:
        self.first_seen, self.first = item.first_seen, item.first
        # The extremes' rates are kept beside them: each item is compared with them, and parsing costs.
        self.low, self.high = item.low, item.high
        self.low_in_base, self.high_in_base = exact.in_base(item.low), exact.in_base(item.high)
        self.last_start, self.last, self.last_seen = item.last_start, item.last, item.last_seen
        self.area, self.inverse_area, self.covered = Decimal(item.area), Decimal(item.inverse_area), item.covered


class _Exact:
    """Each distinct published value, its `in_base` and `per_base` at EXACT_DIGITS, each
    worked out once: a year of a busy series holds tens of thousands of distinct values."""

    def __init__(self) -> None:
        self._values: dict[LevelKey, Level] = {}
        self._in_base: dict[LevelKey, Decimal] = {}
        self._per_base: dict[LevelKey, Decimal] = {}

    def value(self, key: LevelKey) -> Level:
        found = self._values.get(key)
        if found is None:
            found = self._values[key] = parse_level(key) if isinstance(key, str) else Value.parse(*key)
        return found

    def in_base(self, key: LevelKey) -> Decimal:
        found = self._in_base.get(key)
        if found is None:
            found = self._in_base[key] = self.value(key).exact_in_base
        return found

    def per_base(self, key: LevelKey) -> Decimal:
        found = self._per_base.get(key)
        if found is None:
            found = self._per_base[key] = self.value(key).exact_per_base
        return found


def _chained(leg: _Leg, cuts: Sequence[datetime], exact: _Exact) -> Leg:
    """`leg` as runs for the sweep: consecutive items joined, except across a cut (naive UTC, sorted), with the
    time-weighted sums of both directions (`per_base`'s is what a bucket's average is of)."""
    hold = leg.series.hold
    runs: list[Run] = []
    # The chain's first item, and the chain itself once a second joins it: most runs are one item (a day row
    # alone in a daily bucket), made straight into a run.
    alone: _Item | None = None
    chain: _Chain | None = None
    limit = _NEVER
    k = 0
    for n, item in enumerate(leg.items):
        if not n & 1023:
            checkpoint()
        if alone is not None and item.first_seen < limit:
            if chain is None:
                chain = _Chain(alone, exact)
            _extend(chain, item, hold, exact)
            continue
        if alone is not None:
            runs.append(_run(chain or alone, hold, exact))
        while k < len(cuts) and cuts[k] <= item.first_seen:
            k += 1
        limit = cuts[k] if k < len(cuts) else _NEVER
        alone, chain = item, None
    if alone is not None:
        runs.append(_run(chain or alone, hold, exact))
    before = leg.before
    tail = Tail(before.first_seen, before.value, before.last_seen + hold) if before is not None else None
    return Leg(tail, runs)


def _extend(chain: _Chain, item: _Item, hold: timedelta, exact: _Exact) -> None:
    ends = min(item.first_seen, chain.last_seen + hold)
    if ends > chain.last_start:
        lasted = micros(ends - chain.last_start)
        chain.area = EXACT.fma(exact.in_base(chain.last), lasted, chain.area)
        chain.inverse_area = EXACT.fma(exact.per_base(chain.last), lasted, chain.inverse_area)
        chain.covered += lasted
    if item.covered:
        chain.area = EXACT.add(chain.area, Decimal(item.area))
        chain.inverse_area = EXACT.add(chain.inverse_area, Decimal(item.inverse_area))
        chain.covered += item.covered
    if item.low != chain.low and (found := exact.in_base(item.low)) < chain.low_in_base:
        chain.low, chain.low_in_base = item.low, found
    if item.high != chain.high and (found := exact.in_base(item.high)) > chain.high_in_base:
        chain.high, chain.high_in_base = item.high, found
    chain.last_start, chain.last, chain.last_seen = item.last_start, item.last, item.last_seen


def _run(chain: _Chain | _Item, hold: timedelta, exact: _Exact) -> Run:
    """The run of a chain, or of an item alone (its sums are still the row's text)."""
    last_seen = chain.last_seen.replace(tzinfo=UTC)
    return Run(
        chain.first_seen.replace(tzinfo=UTC),
        exact.value(chain.first),
        exact.value(chain.low),
        exact.value(chain.high),
        Tail(chain.last_start.replace(tzinfo=UTC), exact.value(chain.last), last_seen + hold),
        Decimal(chain.area),
        Decimal(chain.inverse_area),
        chain.covered,
    )


def edges_of(calendar: Calendar, start: datetime, end: datetime) -> list[datetime]:
    """The starts of the buckets in [start, end], and the end of the last one (the caller bounded their number)."""
    starts = list(calendar.starts(start, end))
    return [*starts, calendar.following(starts[-1])] if starts else []


def _cuts(edges: Sequence[datetime], other: _Leg | None) -> list[datetime]:
    """Where runs must not join across: the bucket boundaries, and where the other leg begins an item or lapses."""
    found = {edge.replace(tzinfo=None) for edge in edges}
    if other is not None:
        found |= {item.first_seen for item in other.items}
        # The other leg is in force at the instant it lapses, not after: a run that begins then ends with its
        # first item. (A cut at an instant lets the item beginning at it start the next run.)
        found |= {lapse + _TICK for lapse in other.lapses()}
    return sorted(found)


def _paired(series: Series, base: Series) -> bool:
    """Whether the cross of two series is a series of its own in the pair rollups: both of one source whose
    crosses are rolled up (app.sources.registry.rolls_up_pairs), holding alike."""
    return (series.source, series.hold) == (base.source, base.hold) and rolls_up_pairs(series.source)


def series_buckets(
    conn: Connection,
    series: Series | None,
    calendar: Calendar,
    start: datetime,
    end: datetime,
    base: Series | None = None,
    horizon: datetime = NEVER,
) -> list[Bucket]:
    """The buckets whose start lies in [start, end] of `series` in USD, or (with `base`) in units of another
    series: the cross of the two legs in force at each instant (app.domain.steps.cross_legs). None is USD itself.
    `horizon` is the present: the rest of the current bucket is not known yet (app.domain.steps.buckets)."""
    edges = edges_of(calendar, start, end)
    if not edges:
        return []
    exact = _Exact()
    if series is not None and base is not None and _paired(series, base):
        # Two series of one source: their cross is a series of its own, summed up by the pair rollups.
        series, base = Series(series.currency, series.source, series.hold, base.currency), None
    readers = [_Reader(conn, leg, edges) if leg is not None else None for leg in (series, base)]
    quote, other = readers
    if base is None:
        assert quote is not None
        leg = _chained(quote.leg(), _cuts(edges, None), exact)
        return buckets(edges, leg.before, leg.runs, horizon)
    if quote is not None and other is not None:
        # Rows of several spans cross whole only while the other leg holds still. Days that do not are read as
        # hours (which holds no fewer still), until every row left holds still; the hours left, span by span.
        while True:
            first, second = quote.leg(), other.leg()
            keys = _unsteady(first, second), _unsteady(second, first)
            split = [reader.split_days(wanted) for reader, wanted in zip((quote, other), keys, strict=True)]
            if not any(split):
                break
        spans = sum(reader.spans_in(wanted) for reader, wanted in zip((quote, other), keys, strict=True))
        if spans > MAX_CROSSED_SPANS:
            days = max(1, (end - start).days * MAX_CROSSED_SPANS // spans)
            raise TooMuchWork(
                f"this range needs {spans:,} changes of the two series crossed one by one, more than one answer "
                f"crosses ({MAX_CROSSED_SPANS:,}); ask for {days} day{'s' if days > 1 else ''} or fewer at a time"
            )
        quote.read_spans(keys[0])
        other.read_spans(keys[1])
    checkpoint()
    legs = [reader.leg() if reader is not None else None for reader in readers]
    chained = [
        _chained(leg, _cuts(edges, legs[1 - side]), exact) if leg is not None else USD_LEG
        for side, leg in enumerate(legs)
    ]
    cross = cross_legs(*chained)
    checkpoint()
    return buckets(edges, cross.before, cross.runs, horizon)
