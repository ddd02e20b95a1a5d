"""How much a rate moved between two instants, on `rate` (units of the currency per one of the base, as every
answer writes it): a weakening currency rises (more of it buys one dollar).

Each end is the value in force at its instant by the one rule of /rates/at (app.read.inforce): a value past its
source's hold is no rate at all. When nothing is in force at `start`, the window starts when a value first comes
into force in it (`start_at` says when); when nothing is in force at `end`, it ends at the last instant one was
(`end_at` says when). A window in which the legs are never in force together has no change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from app.core.jsonenc import iso
from app.core.numbers import plain
from app.core.settings import Settings
from app.domain.cross import Cross
from app.domain.values import DOLLAR, Value, percent_change
from app.read.history import NoData, Pair
from app.read.inforce import lapse_before, state_at
from app.read.series import Series, first_span_after, span_at, stored_range


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


def _in_force_within(
    conn: Connection, settings: Settings, leg: Series, start: datetime, end: datetime
) -> tuple[datetime, datetime] | None:
    """The first and the last instant of [start, end] at which `leg` has a value in force; None when it has none."""
    opening = span_at(conn, leg.currency, leg.source, start)
    if opening is not None and state_at(settings, leg.source, opening, start).in_force:
        first = start
    else:
        later = first_span_after(conn, leg.currency, leg.source, start)
        if later is None or later.first_seen > end:
            return None
        first = later.first_seen
    closing = lapse_before(conn, settings, leg.currency, leg.source, end)
    if closing is None or closing[0] < first:
        return None
    return first, closing[0]


def _level(conn: Connection, settings: Settings, pair: Pair, moment: datetime) -> Value | Cross | None:
    """The level of the pair at `moment` from each leg's value in force then; None when a leg has none."""
    values = []
    for leg in (pair.quote_leg, pair.base_leg):
        if leg is None:
            values.append(DOLLAR)
            continue
        span = span_at(conn, leg.currency, leg.source, moment)
        if span is None or not state_at(settings, leg.source, span, moment).in_force:
            return None
        values.append(span.value)
    quote, base = values
    return quote if pair.base_leg is None else Cross(quote, base)


def change_between(conn: Connection, settings: Settings, pair: Pair, start: datetime, end: datetime) -> Change | None:
    """The change over [start, end], or None when a leg has nothing in force in it (or the legs never are at once)."""
    windows = [_in_force_within(conn, settings, leg, start, end) for leg in (pair.quote_leg, pair.base_leg) if leg]
    if any(window is None for window in windows):
        return None
    start_at = max((window[0] for window in windows if window is not None), default=start)
    end_at = min((window[1] for window in windows if window is not None), default=end)
    if start_at > end_at:
        return None
    first, last = _level(conn, settings, pair, start_at), _level(conn, settings, pair, end_at)
    if first is None or last is None:
        return None
    return Change(pair, start_at, first, end_at, last)


def change_of(conn: Connection, settings: Settings, pair: Pair, start: datetime, end: datetime) -> Change:
    """The change of one pair over [start, end]; NoData, saying which leg has nothing there and where its data
    is, when there is none."""
    moved = change_between(conn, settings, pair, start, end)
    if moved is None:
        raise NoData(_why_none(conn, pair, start, end))
    return moved


def _why_none(conn: Connection, pair: Pair, start: datetime, end: datetime) -> str:
    parts = []
    for leg in (pair.quote_leg, pair.base_leg):
        if leg is None:
            continue
        stored = stored_range(conn, leg.currency, leg.source)
        where = f"it has data from {iso(stored[0])} to {iso(stored[1])}" if stored else "it has none stored"
        parts.append((leg, where))
    if pair.base_leg is None and pair.quote_leg is not None:
        return (
            f"no {pair.currency} data from {pair.quote_leg.source} between {iso(start)} and {iso(end)}; {parts[0][1]}"
        )
    described = "; ".join(f"{leg.currency} from {leg.source}: {where}" for leg, where in parts)
    return f"no {pair.name} rate between {iso(start)} and {iso(end)} ({described})"
