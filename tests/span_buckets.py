"""Buckets computed from every span, one run each (no rollup): the reference the rollup's answers are checked
against. The sweep itself is checked minute by minute in tests/domain/test_steps.py."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, select

from app.domain.calendar import Calendar
from app.domain.steps import USD_LEG, Bucket, Leg, Run, Tail, buckets, cross_legs
from app.domain.values import Value
from app.read.series import SPANS, Series, edges_of

_C = SPANS.c
Rates = tuple[Decimal | None, ...]


def _leg(conn: Connection, series: Series | None, start: datetime, stop: datetime) -> Leg:
    if series is None:
        return USD_LEG
    rows = conn.execute(
        select(_C.first_seen, _C.last_seen, _C.value, _C.per_usd)
        .where(_C.currency == series.currency, _C.source == series.source)
        .order_by(_C.first_seen)
    ).all()
    before = [r for r in rows if r.first_seen < start]
    tail = None
    if before:
        last = before[-1]
        tail = Tail(last.first_seen, Value.parse(last.value, last.per_usd), last.last_seen + series.hold)
    runs = [
        Run.single(r.first_seen, Value.parse(r.value, r.per_usd), r.last_seen + series.hold)
        for r in rows
        if start <= r.first_seen < stop
    ]
    return Leg(tail, runs)


def reference_buckets(
    conn: Connection,
    series: Series | None,
    calendar: Calendar,
    start: datetime,
    end: datetime,
    base: Series | None = None,
) -> list[Bucket]:
    edges = edges_of(calendar, start, end)
    if not edges:
        return []
    leg = _leg(conn, series, edges[0], edges[-1])
    if base is not None:
        leg = cross_legs(leg, _leg(conn, base, edges[0], edges[-1]))
    return buckets(edges, leg.before, leg.runs)


def rates(found: list[Bucket]) -> list[tuple[datetime, Rates]]:
    """What an answer shows of each bucket: its start, its four rates and its average."""
    return [
        (
            b.t,
            (*(level.per_base if level is not None else None for level in (b.open, b.high, b.low, b.close)), b.average),
        )
        for b in found
    ]
