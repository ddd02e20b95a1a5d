"""How much a rate moved between two instants, on `rate` (USD per unit): a weakening currency falls.

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
from app.domain.values import percent_change
from app.read.series import first_span_after, overlaps, span_at


@dataclass(frozen=True, slots=True)
class Change:
    currency: str
    source: str
    start_at: datetime
    start_rate: Decimal
    end_at: datetime
    end_rate: Decimal

    @property
    def change(self) -> Decimal:
        return self.end_rate - self.start_rate

    def as_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "source": self.source,
            "start_at": self.start_at,
            "start_rate": self.start_rate,
            "end_at": self.end_at,
            "end_rate": self.end_rate,
            "change": plain(self.change),
            "change_pct": percent_change(self.start_rate, self.end_rate),
        }


def change_between(conn: Connection, currency: str, source: str, start: datetime, end: datetime) -> Change | None:
    """The change over [start, end], or None when no span of the series overlaps it."""
    if not overlaps(conn, currency, source, start, end):
        return None
    start_at, first = start, span_at(conn, currency, source, start)
    if first is None:
        first = first_span_after(conn, currency, source, start)
        assert first is not None  # a span overlaps the range and none begins before it
        start_at = first.first_seen
    last = span_at(conn, currency, source, end)
    assert last is not None  # the one that overlaps begins at or before end
    return Change(currency, source, start_at, first.rate, end, last.rate)
