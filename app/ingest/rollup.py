"""The hourly rollup of rate_span: what the spans beginning within each UTC hour add up to (models.RateRollup).

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

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, delete, insert, or_, select, update

from app.domain.steps import Span, micros, run_of
from app.domain.values import Value
from app.storage.models import RateRollup, RateSpan

SPANS: Table = RateSpan.__table__  # type: ignore[attr-defined]
ROLLUP: Table = RateRollup.__table__  # type: ignore[attr-defined]
HOUR = timedelta(hours=1)
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


def _insert(conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == _INSERT_BATCH:
            conn.execute(insert(ROLLUP), batch)
            batch = []
    if batch:
        conn.execute(insert(ROLLUP), batch)


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
        _insert(conn, rows)


def extend(conn: Connection, extensions: Sequence[Extension]) -> None:
    """Move the last_seen of the rows whose last span is the open span just extended (one statement).

    A row that does not end with that span (a rollup out of step with the spans) is recomputed instead."""
    if not extensions:
        return
    r = ROLLUP.c
    statement = (
        update(ROLLUP)
        .where(
            r.currency == bindparam("b_currency"),
            r.source == bindparam("b_source"),
            r.hour == bindparam("b_hour"),
            r.last_start == bindparam("b_first_seen"),
        )
        .values(last_seen=bindparam("b_last_seen"))
    )
    params = [
        {
            "b_currency": e.currency,
            "b_source": e.source,
            "b_hour": hour_of(e.first_seen),
            "b_first_seen": e.first_seen,
            "b_last_seen": e.last_seen,
        }
        for e in extensions
    ]
    result = conn.execute(statement, params if len(params) > 1 else params[0])
    sane = len(params) == 1 or conn.dialect.supports_sane_multi_rowcount
    if sane and result.rowcount != len(params):
        refresh(conn, [(e.currency, e.source, hour_of(e.first_seen)) for e in extensions])


def rebuild(conn: Connection) -> int:
    """Recompute the whole rollup from rate_span, streaming the spans once; returns the rows written."""
    conn.execute(delete(ROLLUP))
    # Streamed (PostgreSQL: a server-side cursor), as options of this statement only, not of the connection.
    spans = conn.execute(select(*_SPAN_COLUMNS).order_by(*_ORDER), execution_options={"yield_per": 20_000})
    count = 0

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal count
        for row in rows_of(spans):
            count += 1
            yield row

    _insert(conn, counted())
    return count


def computed(conn: Connection) -> list[dict[str, Any]]:
    """The whole rollup as recomputed from the spans, without writing it (for checks and tests)."""
    return list(rows_of(conn.execute(select(*_SPAN_COLUMNS).order_by(*_ORDER))))


def stored(conn: Connection) -> list[dict[str, Any]]:
    """The rollup rows as stored, in the order `computed` gives them."""
    r = ROLLUP.c
    rows = conn.execute(select(ROLLUP).order_by(r.currency, r.source, r.hour))
    return [dict(row._mapping) for row in rows]
