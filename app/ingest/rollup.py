"""The hourly rollup of rate_span: what the spans beginning within each UTC hour add up to (models.RateRollup).

It is derived data. The store recomputes the rows of every hour a write touched, from rate_span, in the same
transaction (refresh); the common write, a poll that confirms the open span, only moves the last_seen of that
span's row (extend). rebuild recomputes the whole table (the migration that created it, or after a bulk load).

Extremes are chosen exactly, by Decimal, and kept as the published text: the database never compares values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, delete, insert, or_, select, update

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
    per_usd: bool
    first_seen: datetime
    last_seen: datetime


class _Hour:
    """The rollup row of one (currency, source, hour, direction), built from its spans in first_seen order."""

    __slots__ = ("first_seen", "first_value", "high", "high_text", "last_seen", "last_start", "last_value", "low",
                 "low_text", "spans")  # fmt: skip

    def __init__(self, value: str, first_seen: datetime, last_seen: datetime) -> None:
        number = Decimal(value)
        self.spans = 1
        self.low = self.high = number
        self.low_text = self.high_text = value
        self.first_seen = self.last_start = first_seen
        self.first_value = self.last_value = value
        self.last_seen = last_seen

    def add(self, value: str, first_seen: datetime, last_seen: datetime) -> None:
        number = Decimal(value)
        self.spans += 1
        if number < self.low:
            self.low, self.low_text = number, value
        if number > self.high:
            self.high, self.high_text = number, value
        self.last_start, self.last_value = first_seen, value
        self.last_seen = max(self.last_seen, last_seen)

    def row(self, currency: str, source: str, hour: datetime, per_usd: bool) -> dict[str, Any]:
        return {
            "currency": currency,
            "source": source,
            "hour": hour,
            "per_usd": per_usd,
            "spans": self.spans,
            "low": self.low_text,
            "high": self.high_text,
            "first_seen": self.first_seen,
            "first_value": self.first_value,
            "last_start": self.last_start,
            "last_value": self.last_value,
            "last_seen": self.last_seen,
        }


def rows_of(spans: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """The rollup rows of `spans` (rows with currency, source, value, per_usd, first_seen, last_seen), which come
    ordered by (currency, source, first_seen)."""
    current: tuple[str, str, datetime] | None = None
    hours: dict[bool, _Hour] = {}
    series: tuple[str, str] | None = None
    ends = datetime.min.replace(tzinfo=UTC)  # when the current hour ends
    # Unpacked, and the hour worked out only when a span leaves the current one: a rebuild runs this per span.
    for currency, source, value, per_usd, first_seen, last_seen in spans:
        if first_seen >= ends or (currency, source) != series:
            if current is not None:
                yield from (h.row(*current, direction) for direction, h in hours.items())
            series, hour = (currency, source), hour_of(first_seen)
            current, hours, ends = (currency, source, hour), {}, hour + HOUR
        found = hours.get(per_usd)
        if found is None:
            hours[per_usd] = _Hour(value, first_seen, last_seen)
        else:
            found.add(value, first_seen, last_seen)
    if current is not None:
        yield from (h.row(*current, per_usd) for per_usd, h in hours.items())


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
            r.per_usd == bindparam("b_per_usd"),
            r.last_start == bindparam("b_first_seen"),
        )
        .values(last_seen=bindparam("b_last_seen"))
    )
    params = [
        {
            "b_currency": e.currency,
            "b_source": e.source,
            "b_hour": hour_of(e.first_seen),
            "b_per_usd": e.per_usd,
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
    # Within an hour `computed` lists directions in the order their first span began.
    rows = conn.execute(select(ROLLUP).order_by(r.currency, r.source, r.hour, r.first_seen))
    return [dict(row._mapping) for row in rows]
