"""How much a rate moved between two instants, on `rate` (units of the currency per one of the base, as every
answer writes it): a weakening currency rises (more of it buys one dollar).

Each end takes the last value known at or before its instant (a step function with no lapse: the question is
"what was the rate then", and a source that paused still had one). When nothing is known before `start`, the
first value after it is used and `start_at` says when it came. A range no span overlaps has no change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from app.core.numbers import plain
from app.domain.cross import Cross
from app.domain.values import USD, Value, percent_change
from app.read.history import Pair
from app.read.series import Series, first_span_after, overlaps, span_at


@dataclass(frozen=True, slots=True)
class Change:
    pair: Pair
    start_at: datetime
    start_level: Value | Cross
    end_at: datetime
    end_level: Value | Cross

    @property
    def start_rate(self) -> Decimal:
        return self.start_level.per_base

    @property
    def end_rate(self) -> Decimal:
        return self.end_level.per_base

    @property
    def change(self) -> Decimal:
        return self.end_rate - self.start_rate

    def as_json(self) -> dict[str, Any]:
        return {
            **self.pair.head(),
            "start_at": self.start_at,
            "start_rate": self.start_rate,
            "end_at": self.end_at,
            "end_rate": self.end_rate,
            "change": plain(self.change),
            "change_pct": percent_change(self.start_level.per_base_key(), self.end_level.per_base_key()),
        }


def _known(conn: Connection, leg: Series, start: datetime, end: datetime) -> datetime | None:
    """When `leg` is first known in [start, end]: at `start` if a value was known then, else when its first value
    came; None when no span of it overlaps the range."""
    if not overlaps(conn, leg.currency, leg.source, start, end):
        return None
    if span_at(conn, leg.currency, leg.source, start) is not None:
        return start
    first = first_span_after(conn, leg.currency, leg.source, start)
    assert first is not None  # a span overlaps the range and none begins before it
    return first.first_seen


def _level(conn: Connection, pair: Pair, moment: datetime) -> Value | Cross:
    """The level of the pair known at `moment` (each leg's last value at or before it)."""
    values = []
    for leg in (pair.quote, pair.base):
        if leg is None:
            values.append(USD)
            continue
        span = span_at(conn, leg.currency, leg.source, moment)
        assert span is not None  # known from _known's instant on
        values.append(span.value)
    quote, base = values
    return quote if pair.base is None else Cross(quote, base)


def change_between(conn: Connection, pair: Pair, start: datetime, end: datetime) -> Change | None:
    """The change over [start, end], or None when a leg has no span overlapping it (or the legs never meet in it)."""
    known = [_known(conn, leg, start, end) for leg in (pair.quote, pair.base) if leg is not None]
    if any(moment is None for moment in known):
        return None
    start_at = max((moment for moment in known if moment is not None), default=start)
    if start_at > end:
        return None
    return Change(pair, start_at, _level(conn, pair, start_at), end, _level(conn, pair, end))
