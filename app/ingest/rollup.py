"""The hourly and daily rollups of rate_span: what the spans beginning within each UTC hour add up to
(models.RateRollup), and within the 24 hours from each UTC hour (models.RateRollupDay).

It is derived data. The store recomputes the rows of every hour a write touched, from rate_span, in the same
transaction (refresh); the common write, a poll that confirms the open span, only moves the last_seen of that
span's row (extend). rebuild recomputes the whole table (the migration that created it, or after a bulk load).

A row is one run of spans (app.domain.steps.run_of): its first and last span, its extreme values (chosen exactly,
by their rates, and kept as the published text with their direction: the database never compares values), and
the time-weighted sums of every span but the last, each counted until the next one began. How long a value
holds is a setting (app.domain.freshness), so no lapse is baked in: `inner_gap` records the longest a span went
unseen before the next began, and a reader whose values hold for less reads that hour's spans instead.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import groupby, pairwise
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, delete, insert, or_, select, update

from app.domain.calendar import HOUR, consecutive
from app.domain.steps import Level, Span, micros, run_of
from app.domain.values import EXACT, Value
from app.storage.dialect import counts_each_row
from app.storage.models import RateRollup, RateRollupDay, RateSpan

SPANS: Table = RateSpan.__table__  # type: ignore[attr-defined]
ROLLUP: Table = RateRollup.__table__  # type: ignore[attr-defined]
DAYS: Table = RateRollupDay.__table__  # type: ignore[attr-defined]
DAY = timedelta(hours=24)
# Hours recomputed per statement: each is one OR-ed index range, so a backfill touching thousands of hours
# still makes statements of bounded size.
_CHUNK = 100
_INSERT_BATCH = 5_000

Key = tuple[str, str, datetime]  # (currency, source, hour)


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Extension:
    """The open span of a series was seen again: its row's last_seen moves (it is the last span of its hour)."""

    currency: str
    source: str
    first_seen: datetime
    last_seen: datetime
    previous_seen: datetime | None = None  # its last sighting before this one (None: not known)


def row_of(currency: str, source: str, hour: datetime, spans: Sequence[Span]) -> dict[str, Any]:
    """The rollup row of the spans of one series that begin within `hour` (oldest first, at least one)."""
    run = run_of(spans, None)
    gap = max((micros(after.first_seen - span.last_seen) for span, after in pairwise(spans)), default=0)
    first, low, high, last = (_value(level) for level in (run.first, run.low, run.high, run.tail.level))
    return {
        "currency": currency,
        "source": source,
        "hour": hour,
        "spans": len(spans),
        "first_seen": run.first_seen,
        "first_value": first.text,
        "first_per_usd": first.per_usd,
        "low_value": low.text,
        "low_per_usd": low.per_usd,
        "high_value": high.text,
        "high_per_usd": high.per_usd,
        "last_start": run.tail.start,
        "last_value": last.text,
        "last_per_usd": last.per_usd,
        "last_seen": spans[-1].last_seen,
        "area": str(run.area),
        "inverse_area": str(run.inverse_area),
        "covered": run.covered,
        "inner_gap": gap,
    }


def _value(level: object) -> Value:
    assert isinstance(level, Value)
    return level


def rows_of(spans: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """The rollup rows of `spans` (rows of currency, source, value, per_usd, first_seen, last_seen), which come
    ordered by (currency, source, first_seen)."""
    current: tuple[str, str, datetime] | None = None
    group: list[Span] = []
    series: tuple[str, str] | None = None
    ends = datetime.min.replace(tzinfo=UTC)  # when the current hour ends
    # Unpacked, and the hour worked out only when a span leaves the current one: a rebuild runs this per span.
    for currency, source, value, per_usd, first_seen, last_seen in spans:
        if first_seen >= ends or (currency, source) != series:
            if current is not None:
                yield row_of(*current, group)
            series, hour = (currency, source), hour_of(first_seen)
            current, group, ends = (currency, source, hour), [], hour + HOUR
        group.append(Span(first_seen, last_seen, Value.parse(value, per_usd)))
    if current is not None:
        yield row_of(*current, group)


_SPAN_COLUMNS = (SPANS.c.currency, SPANS.c.source, SPANS.c.value, SPANS.c.per_usd, SPANS.c.first_seen,
                 SPANS.c.last_seen)  # fmt: skip
_ORDER = (SPANS.c.currency, SPANS.c.source, SPANS.c.first_seen)


def insert_rows(conn: Connection, rows: Iterable[dict[str, Any]], table: Table = ROLLUP) -> int:
    """Insert `rows` (any number: a batch per statement); returns how many."""
    batch: list[dict[str, Any]] = []
    count = 0
    for row in rows:
        batch.append(row)
        count += 1
        if len(batch) == _INSERT_BATCH:
            conn.execute(insert(table), batch)
            batch = []
    if batch:
        conn.execute(insert(table), batch)
    return count


def refresh(conn: Connection, keys: Iterable[Key]) -> None:
    """Recompute the rows of the hours `keys` from rate_span (rows of hours left with no span disappear)."""
    ordered = sorted(set(keys))
    for at in range(0, len(ordered), _CHUNK):
        chunk = ordered[at : at + _CHUNK]
        c, r = SPANS.c, ROLLUP.c
        within = or_(
            *(
                and_(c.currency == cur, c.source == src, c.first_seen >= hour, c.first_seen < hour + HOUR)
                for cur, src, hour in chunk
            )
        )
        rows = list(rows_of(conn.execute(select(*_SPAN_COLUMNS).where(within).order_by(*_ORDER))))
        conn.execute(
            delete(ROLLUP).where(
                or_(*(and_(r.currency == cur, r.source == src, r.hour == hour) for cur, src, hour in chunk))
            )
        )
        insert_rows(conn, rows)
    refresh_days(conn, ordered)


def extend(conn: Connection, extensions: Sequence[Extension]) -> None:
    """Move the last_seen of the rows whose last span is the open span just extended (a statement per rollup).

    A row that does not end with that span (a rollup out of step with the spans) is recomputed instead."""
    if not extensions:
        return
    keys = [(e.currency, e.source, hour_of(e.first_seen)) for e in extensions]
    if not _move_last_seen(conn, ROLLUP.c.hour, HOUR, extensions):
        refresh(conn, keys)
    elif not _move_last_seen(conn, DAYS.c.start, DAY, extensions):
        refresh_days(conn, keys)


def _move_last_seen(conn: Connection, key: Any, width: timedelta, extensions: Sequence[Extension]) -> bool:
    """Move last_seen on the rows of `key`'s table that hold each extended span's hour (their key within `width`
    up to that hour: one hour row, 24 day rows) and end with that span; whether every one of them did."""
    table = key.table
    c = table.c
    statement = (
        update(table)
        .where(
            c.currency == bindparam("b_currency"),
            c.source == bindparam("b_source"),
            key > bindparam("b_after"),
            key <= bindparam("b_hour"),
            c.last_start == bindparam("b_first_seen"),
        )
        .values(last_seen=bindparam("b_last_seen"))
    )
    params = [
        {
            "b_currency": e.currency,
            "b_source": e.source,
            "b_after": hour_of(e.first_seen) - width,
            "b_hour": hour_of(e.first_seen),
            "b_first_seen": e.first_seen,
            "b_last_seen": e.last_seen,
        }
        for e in extensions
    ]
    return updated(conn, statement, params, width // HOUR)


def updated(conn: Connection, statement: Any, params: list[dict[str, Any]], each: int) -> bool:
    """Run an UPDATE once per parameter set; whether it changed `each` rows per set (when the driver says)."""
    result = conn.execute(statement, params if len(params) > 1 else params[0])
    return not counts_each_row(conn, len(params)) or result.rowcount == each * len(params)


def rebuild(conn: Connection) -> int:
    """Recompute both rollups from rate_span; returns the rows written."""
    return rebuild_hours(conn) + rebuild_days(conn)


def rebuild_hours(conn: Connection) -> int:
    """Recompute the hour rows from rate_span, streaming the spans once; returns the rows written."""
    conn.execute(delete(ROLLUP))
    # Streamed (PostgreSQL: a server-side cursor), as options of this statement only, not of the connection.
    spans = conn.execute(select(*_SPAN_COLUMNS).order_by(*_ORDER), execution_options={"yield_per": 20_000})
    return insert_rows(conn, rows_of(spans))


def computed(conn: Connection) -> list[dict[str, Any]]:
    """The whole rollup as recomputed from the spans, without writing it (for checks and tests)."""
    return list(rows_of(conn.execute(select(*_SPAN_COLUMNS).order_by(*_ORDER))))


def stored(conn: Connection) -> list[dict[str, Any]]:
    """The rollup rows as stored, in the order `computed` gives them."""
    rows = conn.execute(select(ROLLUP).order_by(*_HOUR_ORDER))
    return [dict(row._mapping) for row in rows]


def computed_days(conn: Connection) -> list[dict[str, Any]]:
    """The day rows as recomputed from the spans (through the hour rows), without writing them."""
    return list(days_of_hours(computed(conn)))


def stored_days(conn: Connection) -> list[dict[str, Any]]:
    """The day rows as stored, in the order `computed_days` gives them."""
    d = DAYS.c
    return [dict(row._mapping) for row in conn.execute(select(DAYS).order_by(d.currency, d.source, d.start))]


# --- day rows --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kind:
    """A rollup whose hour rows join into day rows: this one (series of USD values), or that of the pairs
    (app.ingest.pairs). Its series are named by `series` columns, and its four levels (first, low, high, last)
    are kept in `levels` columns each and read back by `level`."""

    hours: Table
    days: Table
    series: tuple[str, ...]
    levels: Mapping[str, tuple[str, ...]]
    level: Callable[[Mapping[str, Any], str], Level]

    def hour_order(self) -> tuple[Any, ...]:
        return (*(self.hours.c[name] for name in self.series), self.hours.c.hour)


def _usd_level(row: Mapping[str, Any], name: str) -> Level:
    return Value.parse(row[f"{name}_value"], row[f"{name}_per_usd"])


USD_KIND = Kind(ROLLUP, DAYS, ("currency", "source"),
                {name: (f"{name}_value", f"{name}_per_usd") for name in ("first", "low", "high", "last")},
                _usd_level)  # fmt: skip
_HOUR_ORDER = USD_KIND.hour_order()


@dataclass(slots=True)
class _Hour:
    """An hour row with what joining it needs worked out once: it is joined into 24 days."""

    row: Mapping[str, Any]
    last: Decimal  # the exact rate of its last span, counted until the next hour's first began
    last_inverse: Decimal
    low: Decimal
    high: Decimal
    area: Decimal
    inverse_area: Decimal

    @classmethod
    def of(cls, row: Mapping[str, Any], kind: Kind = USD_KIND) -> _Hour:
        last = kind.level(row, "last")
        low, high = kind.level(row, "low").exact_in_base, kind.level(row, "high").exact_in_base
        return cls(
            row, last.exact_in_base, last.exact_per_base, low, high, Decimal(row["area"]), Decimal(row["inverse_area"])
        )


def day_row(
    series: Mapping[str, Any], start: datetime, hours: Sequence[_Hour], kind: Kind = USD_KIND
) -> dict[str, Any]:
    """The day row of the hour rows `hours` (those of one series within [start, start + DAY), oldest first)."""
    first = hours[0]
    area, inverse_area, low, high = first.area, first.inverse_area, first, first
    covered, gap, spans = first.row["covered"], first.row["inner_gap"], first.row["spans"]
    for before, hour in pairwise(hours):
        row = hour.row
        lasted = micros(row["first_seen"] - before.row["last_start"])
        area = EXACT.add(EXACT.fma(before.last, lasted, area), hour.area)
        inverse_area = EXACT.add(EXACT.fma(before.last_inverse, lasted, inverse_area), hour.inverse_area)
        covered += lasted + row["covered"]
        gap = max(gap, row["inner_gap"], micros(row["first_seen"] - before.row["last_seen"]))
        spans += row["spans"]
        # Strictly: of equal rates the earliest is kept, as the hour rows keep theirs.
        low = hour if hour.low < low.low else low
        high = hour if hour.high > high.high else high
    last = hours[-1]
    found = {**series, "start": start, "hour_of_day": start.hour, "spans": spans}
    found |= {"first_seen": first.row["first_seen"], "last_start": last.row["last_start"]}
    found["last_seen"] = last.row["last_seen"]
    for name, source in (("first", first), ("low", low), ("high", high), ("last", last)):
        found |= {column: source.row[column] for column in kind.levels[name]}
    return found | {"area": str(area), "inverse_area": str(inverse_area), "covered": covered, "inner_gap": gap}


def _windows(
    series: Mapping[str, Any], hours: Sequence[_Hour], starts: Iterable[datetime], kind: Kind = USD_KIND
) -> Iterator[dict[str, Any]]:
    """The day rows starting at `starts` (sorted) that hold an hour of `hours` (sorted, every hour row those
    days hold)."""
    moments = [hour.row["hour"] for hour in hours]
    for start in starts:
        lo = bisect.bisect_left(moments, start)
        hi = bisect.bisect_left(moments, start + DAY, lo)
        if hi > lo:
            yield day_row(series, start, hours[lo:hi], kind)


def _starts(hours: Iterable[datetime]) -> list[datetime]:
    """The starts of the days holding any of `hours`: each of the 24 hours up to it."""
    return sorted({hour - k * HOUR for hour in hours for k in range(24)})


def days_of_hours(rows: Iterable[Mapping[str, Any]], kind: Kind = USD_KIND) -> Iterator[dict[str, Any]]:
    """Every day row of the hour rows `rows`, ordered by series and hour."""
    for key, group in groupby(rows, key=lambda row: tuple(row[name] for name in kind.series)):
        hours = [_Hour.of(row, kind) for row in group]
        series = dict(zip(kind.series, key, strict=True))
        yield from _windows(series, hours, _starts(hour.row["hour"] for hour in hours), kind)


def rebuild_days(conn: Connection, kind: Kind = USD_KIND) -> int:
    """Recompute the day rows from the hour rows (streamed once, a series at a time); returns the rows written."""
    conn.execute(delete(kind.days))
    rows = conn.execute(select(kind.hours).order_by(*kind.hour_order()), execution_options={"yield_per": 20_000})
    return insert_rows(conn, days_of_hours((dict(row._mapping) for row in rows), kind), kind.days)


def refresh_days(conn: Connection, keys: Iterable[tuple[Any, ...]], kind: Kind = USD_KIND) -> None:
    """Recompute the day rows holding the hours `keys` ((*series, hour)) from the hour rows (days left with no
    hour disappear). Each series is read and deleted on its own (OR-ed across series, PostgreSQL's planner read
    whole tables), and the day rows of every series are inserted together."""
    width = len(kind.series)
    together: dict[tuple[datetime, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for key, group in groupby(sorted(set(keys)), key=lambda key: key[:width]):
        together[tuple(hour for *_, hour in group)].append(key)
    days, hours_of = kind.days.c, kind.hours.c
    for hours, named in together.items():
        starts = _starts(hours)
        # Consecutive starts as one range of the primary key each, for reading and deleting alike (a list of
        # starts led PostgreSQL's planner to walk every day row of the series).
        runs = consecutive(starts, HOUR)
        found: dict[tuple[Any, ...], dict[datetime, _Hour]] = defaultdict(dict)  # by hour: overlapping runs
        for key in named:
            for at in range(0, len(runs), _CHUNK):
                chunk = runs[at : at + _CHUNK]
                stale = or_(*(and_(days.start >= a, days.start <= b) for a, b in chunk))
                conn.execute(delete(kind.days).where(*_named(kind.days, kind, key), stale))
                within = or_(*(and_(hours_of.hour >= a, hours_of.hour < b + DAY) for a, b in chunk))
                for row in conn.execute(select(kind.hours).where(*_named(kind.hours, kind, key), within)):
                    found[key][row.hour] = _Hour.of(dict(row._mapping), kind)
        insert_rows(conn, _days_of(named, found, starts, kind), kind.days)


def _days_of(
    named: Iterable[tuple[Any, ...]], found: Mapping[tuple[Any, ...], Mapping[datetime, _Hour]],
    starts: Sequence[datetime], kind: Kind,
) -> Iterator[dict[str, Any]]:  # fmt: skip
    """The day rows from `starts` of each series `named`, from its hour rows `found`."""
    for key in named:
        hours = found.get(key, {})
        yield from _windows(dict(zip(kind.series, key, strict=True)), [hours[h] for h in sorted(hours)], starts, kind)


def _named(table: Table, kind: Kind, key: tuple[Any, ...]) -> list[Any]:
    """The terms that select one series of `kind` in `table`."""
    return [table.c[name] == value for name, value in zip(kind.series, key, strict=True)]
