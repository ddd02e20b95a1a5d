"""A brute-force reference for bucketed answers: the rate in force evaluated minute by minute from the spans.

Slow and obviously right, for series whose spans begin and end on whole minutes: whatever is in force over a
minute is in force at its middle, so a bucket's OHLC and time-weighted average follow from one look per minute.
The raw points of a cross (`stretches`) are listed from every span of both legs, with no paging or lookups.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from app.core.numbers import plain
from app.domain.cross import Cross
from app.domain.steps import Level, Span
from app.domain.values import DERIVED_DIGITS, EXACT_DIGITS, Value

MINUTE = timedelta(minutes=1)
_EXACT = decimal.Context(prec=EXACT_DIGITS, rounding=decimal.ROUND_HALF_EVEN)
_SERVED = decimal.Context(prec=DERIVED_DIGITS, rounding=decimal.ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Series:
    spans: Sequence[Span]  # oldest first, not overlapping
    hold: timedelta  # how long a value holds after its last sighting

    def at(self, moment: datetime) -> Value | None:
        """The value in force at `moment` (None when nothing is)."""
        found = self.held(moment)
        return found.value if found is not None else None

    def held(self, moment: datetime) -> Span | None:
        """The span in force at `moment` (None when none is)."""
        found = self.known(moment)
        if found is None or moment > found.last_seen + self.hold:
            return None
        return found

    def known(self, moment: datetime) -> Span | None:
        """The span begun last at or before `moment`, in force or not: the value known then."""
        found = None
        for span in self.spans:
            if span.first_seen > moment:
                break
            found = span
        return found


@dataclass(frozen=True)
class CrossSeries:
    quote: Series | None  # None: USD
    base: Series | None

    def at(self, moment: datetime) -> Level | None:
        one = Value(Decimal(1), per_usd=False)
        a = self.quote.at(moment) if self.quote is not None else one
        b = self.base.at(moment) if self.base is not None else one
        if a is None or b is None:
            return None
        return Cross(a, b)


@dataclass(frozen=True)
class Stretch:
    """A raw point of a cross: from `since` until the last instant both legs were seen holding its rate."""

    since: datetime
    until: datetime
    rate: Decimal
    inverse: Decimal


def stretches(series: CrossSeries, start: datetime, end: datetime) -> list[Stretch]:
    """The raw points of a cross overlapping [start, end], from every span of both legs: one at each instant
    either leg begins a span while both are in force, until the earlier of the legs' last sightings, but no later
    than the next such instant and no earlier than its own."""
    legs = [leg for leg in (series.quote, series.base) if leg is not None]
    moments = sorted({span.first_seen for leg in legs for span in leg.spans})
    found = []
    for n, moment in enumerate(moments):
        level = series.at(moment)
        if level is None:
            continue
        seen = [span.last_seen for leg in legs if (span := leg.held(moment)) is not None]
        following = moments[n + 1] if n + 1 < len(moments) else datetime.max.replace(tzinfo=moment.tzinfo)
        until = max(min(*seen, following), moment)
        if until >= start and moment <= end:
            found.append(Stretch(moment, until, level.per_base, level.in_base))
    return found


@dataclass(frozen=True)
class Expected:
    open: Decimal | None
    high: Decimal | None
    low: Decimal | None
    close: Decimal | None
    average: Decimal | None
    close_inverse: Decimal | None = None  # what a CSV row of the bucket shows beside its close


def bucket(series: Series | CrossSeries, start: datetime, stop: datetime) -> Expected:
    """The bucket [start, stop) of `series`, by looking at every minute (and every minute's middle)."""
    points: list[tuple[datetime, Level]] = []
    middles: list[Level] = []
    moment = start
    while moment < stop:
        level = series.at(moment)
        if level is not None:
            points.append((moment, level))
        middle = series.at(moment + MINUTE / 2)
        if middle is not None:
            middles.append(middle)
            points.append((moment + MINUTE / 2, middle))
        moment += MINUTE
    if not points:
        return Expected(None, None, None, None, None)
    opening = series.at(start)
    first = opening if opening is not None else points[0][1]
    levels = [level for _, level in points]
    if middles:
        total = Decimal(0)
        for level in middles:
            total = _EXACT.add(total, _EXACT.multiply(level.exact_per_base, Decimal(60_000_000)))
        average = plain(_SERVED.divide(total, Decimal(60_000_000 * len(middles))))
    else:
        average = plain(_SERVED.plus(first.exact_per_base))
    # As answers write `rate`: units of the currency per one of the base (`per_base`); the inverse beside the close.
    return Expected(
        first.per_base,
        max(levels, key=lambda level: level.exact_per_base).per_base,
        min(levels, key=lambda level: level.exact_per_base).per_base,
        points[-1][1].per_base,
        average,
        points[-1][1].in_base,
    )
