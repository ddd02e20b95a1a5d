"""A rate series as a step function, and the buckets cut from it: open, high, low, close, time-weighted average.
Pure: no database, no clock.

A series is a sequence of spans. The rate in force at an instant t is the value of the latest span begun at or
before t, as long as t is no later than that span's `until` (its last sighting plus how long the source's values
hold, app.domain.freshness): a source that stopped confirming a value does not keep it alive forever, and after
that nothing is in force until the next span begins.

A bucket [t, next t) then has:
  open     the level in force at t, or if none, the first one that begins within the bucket;
  high     the level of the largest rate (`per_base`: units of the currency per one of the base) in force at any
           moment within it (the value carried in at t counts);
  low      the smallest, likewise;
  close    the last level in force within it (at its end, or the last one before it lapsed);
  average  the time-weighted mean of the rate (`per_base`) over the part of the bucket that had one in force (a
           rate in force for 3 of 4 hours weighs 3).
Nothing in force within a bucket at all: all five are None.

The spans come grouped into runs: the spans of a series that begin within one stretch of time inside one
bucket, summed up (an hour of the rollup, app.ingest.rollup), or a single span. A run knows its first and last
span, its extremes, and the time-weighted sum of every span but the last while it was in force: the last one's
end is decided by whatever comes next, which the sweep knows. So a year of per-minute spans is about 8,760 runs.

Rates are compared and summed exactly (at EXACT_DIGITS), and each figure is rounded once, when it is served.
A level (what is in force) is anything with `in_base` (units of the base per one unit of the currency), `per_base`
(units of the currency per one of the base) and their exact forms: a published Value, or a Cross of two of them
(another base than USD). Runs, their extremes and their sums are kept in `in_base` (the rollups store them so, with
the `per_base` sums beside them as `inverse_area`); a bucket is served in `per_base`, as the API's `rate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Protocol

from app.core.numbers import plain
from app.domain.cross import Cross
from app.domain.values import DERIVED, DOLLAR, EXACT, Value

NEVER = datetime.max.replace(tzinfo=UTC)
EPOCH = datetime.min.replace(tzinfo=UTC)
_ZERO = Decimal(0)


class Level(Protocol):
    """What is in force: both directions, and both at EXACT_DIGITS for sums and comparisons."""

    @property
    def in_base(self) -> Decimal: ...

    @property
    def per_base(self) -> Decimal: ...

    @property
    def exact_in_base(self) -> Decimal: ...

    @property
    def exact_per_base(self) -> Decimal: ...


def micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True, slots=True)
class Span:
    """A stored span, as the step function needs it: one value, from its first to its last sighting."""

    first_seen: datetime
    last_seen: datetime
    value: Value
    observations: int = 1
    effective_date: date | None = None
    next_update: datetime | None = None  # announced by the source (app.domain.freshness)


@dataclass(frozen=True, slots=True)
class Tail:
    """A span that holds from `start` until the next one begins or `until` (inclusive), whichever comes first."""

    start: datetime
    level: Level
    until: datetime


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive spans of one series, all beginning within one bucket, summed up."""

    first_seen: datetime
    first: Level
    low: Level
    high: Level
    tail: Tail  # the last of them
    area: Decimal = _ZERO  # sum of exact in_base x microseconds in force, over every span but the tail
    inverse_area: Decimal = _ZERO  # the same for per_base (what a bucket's average and a cross are made of)
    covered: int = 0  # microseconds those spans were in force

    @classmethod
    def single(cls, start: datetime, level: Level, until: datetime) -> Run:
        return cls(start, level, level, level, Tail(start, level, until))

    @property
    def spans_one(self) -> bool:
        """A run of one span: exact at any instant, so it can be combined with another series as it is."""
        return self.first_seen == self.tail.start


def run_of(spans: Sequence[Span], hold: timedelta | None) -> Run:
    """The run of `spans` (consecutive, oldest first, at least one): each holds `hold` after its last sighting
    (None: until the next one begins, as the rollup counts it)."""
    first, last = spans[0], spans[-1]
    area, inverse_area, covered = _ZERO, _ZERO, 0
    for span, following in pairwise(spans):
        end = following.first_seen if hold is None else min(following.first_seen, span.last_seen + hold)
        lasted = micros(end - span.first_seen)
        area = EXACT.fma(span.value.exact_in_base, Decimal(lasted), area)
        inverse_area = EXACT.fma(span.value.exact_per_base, Decimal(lasted), inverse_area)
        covered += lasted
    levels = [span.value for span in spans]
    return Run(
        first.first_seen,
        first.value,
        min(levels, key=_exact),
        max(levels, key=_exact),
        Tail(last.first_seen, last.value, NEVER if hold is None else last.last_seen + hold),
        area,
        inverse_area,
        covered,
    )


def merged(a: Run, b: Run) -> Run:
    """Two runs of the same stretch (the two directions a source published within one hour of the rollup)."""
    earlier = a if a.first_seen <= b.first_seen else b
    last = a if a.tail.start >= b.tail.start else b
    return Run(
        earlier.first_seen,
        earlier.first,
        min(a.low, b.low, key=_exact),
        max(a.high, b.high, key=_exact),
        last.tail,
        EXACT.add(a.area, b.area),
        EXACT.add(a.inverse_area, b.inverse_area),
        a.covered + b.covered,
    )


def _exact(level: Level) -> Decimal:
    return level.exact_in_base


@dataclass(frozen=True, slots=True)
class Bucket:
    t: datetime
    open: Level | None = None
    high: Level | None = None
    low: Level | None = None
    close: Level | None = None
    average: Decimal | None = None

    @property
    def empty(self) -> bool:
        return self.close is None


def _served(level: Level) -> Decimal:
    return level.exact_per_base


def _part(tail: Tail, following: datetime, start: datetime, stop: datetime) -> tuple[Decimal, int]:
    """(exact `per_base` area, microseconds) of `tail` within [start, stop): it holds until `following` or its
    `until`."""
    low = max(tail.start, start)
    high = min(following, tail.until, stop)
    if high <= low:
        return _ZERO, 0
    span = micros(high - low)
    return EXACT.multiply(tail.level.exact_per_base, Decimal(span)), span


def buckets(
    edges: Sequence[datetime], before: Tail | None, runs: Sequence[Run], horizon: datetime = NEVER
) -> list[Bucket]:
    """One bucket per [edges[i], edges[i+1]), in one pass over `runs` (sorted, each within one bucket); `before` is
    the last span begun before edges[0]. Nothing is known after `horizon` (the present): a value still in force
    weighs in the average only up to it, and is not carried into a bucket that begins later."""
    out: list[Bucket] = []
    held, j, count = before, 0, len(runs)
    for i in range(len(edges) - 1):
        start, stop = edges[i], edges[i + 1]
        limit = min(stop, horizon)
        k = j
        while k < count and runs[k].first_seen < stop:
            k += 1
        inside, j = runs[j:k], k
        after = runs[k].first_seen if k < count else NEVER
        begins = inside[0].first_seen if inside else after
        carried = held if held is not None and held.until >= start and begins > start and start < horizon else None
        area, covered = _part(held, begins, start, limit) if held is not None else (_ZERO, 0)
        levels: list[Level] = [carried.level] if carried is not None else []
        for n, run in enumerate(inside):
            following = inside[n + 1].first_seen if n + 1 < len(inside) else after
            part_area, part_covered = _part(run.tail, following, start, limit)
            area = EXACT.add(area, EXACT.add(run.inverse_area, part_area))
            covered += run.covered + part_covered
            levels += (run.low, run.high)
        if not levels:
            out.append(Bucket(start))
            continue
        opening = carried.level if carried is not None else inside[0].first
        closing = inside[-1].tail.level if inside else opening
        mean = DERIVED.divide(area, Decimal(covered)) if covered else opening.exact_per_base
        out.append(
            Bucket(
                start, opening, max(levels, key=_served), min(levels, key=_served), closing, plain(DERIVED.plus(mean))
            )
        )
        if inside:
            held = inside[-1].tail
    return out


# --- another base: the cross of two series -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Leg:
    """One series as the sweep takes it: the span before the range and the runs within it (levels are Values)."""

    before: Tail | None
    runs: Sequence[Run]


USD_LEG = Leg(Tail(EPOCH, DOLLAR, NEVER), ())  # the dollar: 1, always in force


def needs_spans(leg: Leg, other: Leg) -> list[Run]:
    """The runs of `leg` that cannot be crossed with `other` as they stand: runs of several spans during which
    `other` does not hold one level (one of its spans begins, or its level lapses, from the run's first span to
    its last). Their spans must be read one by one (app.read.series does); crossing is exact after that."""
    found = []
    held, previous, runs, j = other.before, None, other.runs, 0
    for run in leg.runs:
        while j < len(runs) and runs[j].first_seen < run.first_seen:
            previous, held = runs[j], runs[j].tail
            j += 1
        if run.spans_one:
            continue
        # The run's extremes include its last span's value, so the other leg must hold still up to and including the
        # moment that span begins: a change of the other leg at that very moment pairs it with the new level.
        begin, end = run.first_seen, run.tail.start
        changes = (previous is not None and previous.tail.start >= begin) or (
            j < len(runs) and runs[j].first_seen <= end
        )
        lapses = held is not None and begin <= held.until <= end
        if changes or lapses:
            found.append(run)
    return found


def _scaled(run: Run, by: Value, base: bool, until: datetime) -> Run:
    """A run of one leg crossed with the other leg's constant level `by` (the base when `base` is False)."""
    if not base:  # run / by: order kept
        return Run(
            run.first_seen,
            Cross(_value(run.first), by),
            Cross(_value(run.low), by),
            Cross(_value(run.high), by),
            Tail(run.tail.start, Cross(_value(run.tail.level), by), min(run.tail.until, until)),
            EXACT.divide(run.area, by.exact_in_base),
            EXACT.multiply(run.inverse_area, by.exact_in_base),
            run.covered,
        )
    # by / run: dividing by a larger rate gives a smaller cross, so the extremes swap
    return Run(
        run.first_seen,
        Cross(by, _value(run.first)),
        Cross(by, _value(run.high)),
        Cross(by, _value(run.low)),
        Tail(run.tail.start, Cross(by, _value(run.tail.level)), min(run.tail.until, until)),
        EXACT.multiply(run.inverse_area, by.exact_in_base),
        EXACT.divide(run.area, by.exact_in_base),
        run.covered,
    )


def _value(level: Level) -> Value:
    assert isinstance(level, Value), "a leg's levels are published values"
    return level


def cross_legs(quote: Leg, base: Leg) -> Leg:
    """The series of `quote` in units of `base`: in force where both legs are, changing whenever either does.

    Runs of several spans are crossed whole when the other leg holds one level throughout (`needs_spans` found
    the others, which must have been replaced by their single spans)."""
    a, b = quote.before, base.before
    before = _pair(a, b)
    out: list[Run] = []
    i = j = 0
    while i < len(quote.runs) or j < len(base.runs):
        next_a = quote.runs[i].first_seen if i < len(quote.runs) else NEVER
        next_b = base.runs[j].first_seen if j < len(base.runs) else NEVER
        moment = min(next_a, next_b)
        run_a = quote.runs[i] if next_a == moment else None
        run_b = base.runs[j] if next_b == moment else None
        i += run_a is not None
        j += run_b is not None
        if run_a is not None and run_b is not None and run_a.spans_one and run_b.spans_one:  # both change at once
            a, b = run_a.tail, run_b.tail
            pair = _pair(a, b)
            if pair is not None:
                out.append(Run.single(moment, pair.level, pair.until))
        elif run_a is not None and run_b is not None:
            # Both change at once, one of them a single span: it holds through the other's run (nothing of its leg
            # begins or lapses within that run: the caller cut the runs so), so the other is crossed with it.
            if run_b.spans_one:
                b = run_b.tail
                if b.until >= moment:
                    out.append(_scaled(run_a, _value(b.level), base=False, until=b.until))
                a = run_a.tail
            else:
                a = run_a.tail
                if a.until >= moment:
                    out.append(_scaled(run_b, _value(a.level), base=True, until=a.until))
                b = run_b.tail
        elif run_a is not None:
            if b is not None and b.until >= moment:
                out.append(_scaled(run_a, _value(b.level), base=False, until=b.until))
            a = run_a.tail
        elif run_b is not None:
            if a is not None and a.until >= moment:
                out.append(_scaled(run_b, _value(a.level), base=True, until=a.until))
            b = run_b.tail
    return Leg(before, out)


def _pair(a: Tail | None, b: Tail | None) -> Tail | None:
    if a is None or b is None:
        return None
    return Tail(max(a.start, b.start), Cross(_value(a.level), _value(b.level)), min(a.until, b.until))


@dataclass(frozen=True, slots=True)
class Piece:
    """A stretch of a cross series at one level, as a raw answer lists it: from when the level began until the
    last instant both legs were seen holding it (at most the next change)."""

    since: datetime
    until: datetime
    level: Cross


def cross_pieces(
    quote: Sequence[Span] | None,
    base: Sequence[Span] | None,
    quote_hold: timedelta,
    base_hold: timedelta,
    stop: datetime = NEVER,
) -> list[Piece]:
    """The cross of two series of spans (oldest first; None is USD) where both legs are in force: a new piece
    whenever either leg begins a span, up to `stop` (where the next change is known to be, when the spans given
    are one page of longer series). A leg with no span (none stored, or none near the range) has nothing in force:
    then neither has the cross."""
    one = [Span(EPOCH, NEVER, DOLLAR)]
    legs = (quote if quote is not None else one, base if base is not None else one)
    if not legs[0] or not legs[1]:
        return []
    holds = (quote_hold if quote is not None else timedelta(0), base_hold if base is not None else timedelta(0))
    changes = sorted({span.first_seen for leg in legs for span in leg if EPOCH < span.first_seen < stop})
    pieces: list[Piece] = []
    index = [0, 0]
    for n, moment in enumerate(changes):
        held: list[Span] = []
        for side in (0, 1):
            leg = legs[side]
            while index[side] + 1 < len(leg) and leg[index[side] + 1].first_seen <= moment:
                index[side] += 1
            span = leg[index[side]]
            if span.first_seen <= moment <= _until(span, holds[side]):
                held.append(span)
        if len(held) < 2:
            continue
        following = changes[n + 1] if n + 1 < len(changes) else stop
        until = min(held[0].last_seen, held[1].last_seen, following)
        pieces.append(Piece(moment, max(until, moment), Cross(held[0].value, held[1].value)))
    return pieces


def _until(span: Span, hold: timedelta) -> datetime:
    return NEVER if span.last_seen == NEVER else span.last_seen + hold
