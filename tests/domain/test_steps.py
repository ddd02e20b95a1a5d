"""Bucketed answers from runs (as the rollup gives them) against the minute-by-minute reference, in several zones,
for one series and for the cross of two, and the raw stretches of a cross against the reference's; each leg drawn
with no span at all, ending before the range, beginning after it, or around it."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.calendar import Calendar, Interval
from app.domain.steps import (
    USD_LEG,
    Bucket,
    Leg,
    Run,
    Span,
    Tail,
    buckets,
    cross_legs,
    cross_pieces,
    needs_spans,
    run_of,
)
from app.domain.values import Value
from tests.reference import CrossSeries, Expected, Series, bucket, stretches

HOUR = timedelta(hours=1)
ZONES = [UTC, *(ZoneInfo(name) for name in ("Asia/Almaty", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York"))]
# Around Kazakhstan's move from UTC+6 to UTC+5 (2024-03-01) and New York's spring change (2024-03-10).
ORIGINS = [
    datetime(2024, 2, 28, 15, tzinfo=UTC),
    datetime(2024, 3, 9, 20, tzinfo=UTC),
    datetime(2026, 2, 22, tzinfo=UTC),
]
VALUES = [
    Value(Decimal(text), per_usd)
    for text, per_usd in [("0.01144", False), ("0.01150", False), ("0.0115", False), ("480", True), ("497.12", True),
                          ("3.5", True), ("12713.06", True), ("0.00201", False), ("0.5", False), ("2", True)]
]  # fmt: skip


@st.composite
def spans(draw: st.DrawFn, origin: datetime) -> list[Span]:
    found: list[Span] = []
    moment = origin + timedelta(minutes=draw(st.integers(0, 600)))
    dense = draw(st.booleans())  # several spans an hour (the rollup sums them up) or a few a day
    for _ in range(draw(st.integers(0, 30 if dense else 14))):
        length = timedelta(minutes=draw(st.integers(0, 25 if dense else 400)))
        value = draw(st.sampled_from(VALUES))
        found.append(Span(moment, moment + length, value))
        moment += length + timedelta(minutes=draw(st.integers(1, 20 if dense else 300)))
    return found


@st.composite
def shaped(draw: st.DrawFn, origin: datetime, start: datetime, end: datetime) -> list[Span]:
    """A leg as a range [start, end] may find it: no span at all, every span ending before the range (the last one
    maybe still holding into it), every span beginning at or after its end, or spans from up to two hours before
    its start on (twice as likely as each other shape, so that crosses of two legs often have data)."""
    shape = draw(st.sampled_from(["none", "before", "after", "around", "around"]))
    found = draw(spans(origin)) if shape != "none" else []
    if not found:
        return found
    if shape == "around":
        shift = found[0].first_seen - (start - timedelta(minutes=draw(st.integers(0, 120))))
    elif shape == "before":
        shift = found[-1].last_seen - (start - timedelta(minutes=draw(st.integers(1, 90))))
    else:
        shift = found[0].first_seen - (end + timedelta(minutes=draw(st.integers(0, 90))))
    return [Span(span.first_seen - shift, span.last_seen - shift, span.value) for span in found]


def _runs(series: Series, edges: Sequence[datetime]) -> tuple[Leg, dict[int, list[Span]]]:
    """What the read side builds: whole UTC hours as runs, hours split by a bucket edge as single spans."""
    inside = [s for s in series.spans if edges[0] <= s.first_seen < edges[-1]]
    earlier = [s for s in series.spans if s.first_seen < edges[0]]
    before = Tail(earlier[-1].first_seen, earlier[-1].value, earlier[-1].last_seen + series.hold) if earlier else None
    by_hour: dict[datetime, list[Span]] = defaultdict(list)
    for span in inside:
        by_hour[span.first_seen.replace(minute=0, second=0, microsecond=0)].append(span)
    runs: list[Run] = []
    members: dict[int, list[Span]] = {}
    for hour, group in sorted(by_hour.items()):
        split = any(hour < edge < hour + HOUR for edge in edges)
        for part in [[span] for span in group] if split else [group]:
            run = run_of(part, series.hold)
            members[id(run)] = part
            runs.append(run)
    return Leg(before, runs), members


def _explode(leg: Leg, flagged: list[Run], members: dict[int, list[Span]], hold: timedelta) -> Leg:
    ids = {id(run) for run in flagged}
    runs: list[Run] = []
    for run in leg.runs:
        runs += [run_of([span], hold) for span in members[id(run)]] if id(run) in ids else [run]
    return Leg(leg.before, runs)


def _check(found: list[Bucket], expected: list[Expected]) -> None:
    assert len(found) == len(expected)
    for got, want in zip(found, expected, strict=True):
        rates = tuple(
            level.per_base if level is not None else None for level in (got.open, got.high, got.low, got.close)
        )
        assert rates == (want.open, want.high, want.low, want.close), (got.t, rates, want)
        assert got.average == want.average, (got.t, got.average, want.average)


def _edges(origin: datetime, zone: object, interval: Interval, count: int) -> list[datetime]:
    calendar = Calendar(interval, zone)  # type: ignore[arg-type]
    start = calendar.ceil(origin + HOUR * 3)
    edges = [start]
    for _ in range(count):
        edges.append(calendar.following(edges[-1]))
    return edges


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_one_series_matches_the_minute_by_minute_reference(data: st.DataObject) -> None:
    origin = data.draw(st.sampled_from(ORIGINS))
    zone = data.draw(st.sampled_from(ZONES))
    interval: Interval = data.draw(st.sampled_from(["1h", "1d"]))
    edges = _edges(origin, zone, interval, data.draw(st.integers(1, 3 if interval == "1d" else 12)))
    series = Series(data.draw(shaped(origin, edges[0], edges[-1])), timedelta(minutes=data.draw(st.integers(1, 900))))
    leg, _ = _runs(series, edges)
    found = buckets(edges, leg.before, leg.runs)
    _check(found, [bucket(series, a, b) for a, b in itertools.pairwise(edges)])


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_cross_matches_the_minute_by_minute_reference(data: st.DataObject) -> None:
    origin = data.draw(st.sampled_from(ORIGINS))
    zone = data.draw(st.sampled_from(ZONES))
    interval: Interval = data.draw(st.sampled_from(["1h", "1d"]))
    edges = _edges(origin, zone, interval, data.draw(st.integers(1, 2 if interval == "1d" else 8)))
    holds = [timedelta(minutes=data.draw(st.integers(1, 900))) for _ in range(2)]
    quote = Series(data.draw(shaped(origin, edges[0], edges[-1])), holds[0]) if data.draw(st.booleans()) else None
    base = (
        Series(data.draw(shaped(origin, edges[0], edges[-1])), holds[1])
        if quote is None or data.draw(st.booleans())
        else None
    )
    legs = []
    members: dict[int, list[Span]] = {}
    for series in (quote, base):
        if series is None:
            legs.append(USD_LEG)
            continue
        leg, found = _runs(series, edges)
        legs.append(leg)
        members.update(found)
    first, second = legs
    flagged = (needs_spans(first, second), needs_spans(second, first))
    first = _explode(first, flagged[0], members, holds[0])
    second = _explode(second, flagged[1], members, holds[1])
    cross = cross_legs(first, second)
    found_buckets = buckets(edges, cross.before, cross.runs)
    reference = CrossSeries(quote, base)
    _check(found_buckets, [bucket(reference, a, b) for a, b in itertools.pairwise(edges)])


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_the_raw_stretches_of_a_cross_match_the_reference(data: st.DataObject) -> None:
    """Raw history in another base, from every span of both legs: a leg with no span, one ending before the range
    or beginning after it, and a range of one instant, give the stretches the reference lists (often none)."""
    origin = data.draw(st.sampled_from(ORIGINS))
    start = origin + timedelta(minutes=data.draw(st.integers(0, 1500)))
    end = start + timedelta(minutes=data.draw(st.sampled_from([0, 1, 30, 240, 1500])))
    holds = [timedelta(minutes=data.draw(st.integers(1, 900))) for _ in range(2)]
    quote = Series(data.draw(shaped(origin, start, end)), holds[0]) if data.draw(st.booleans()) else None
    base = (
        Series(data.draw(shaped(origin, start, end)), holds[1]) if quote is None or data.draw(st.booleans()) else None
    )
    pieces = cross_pieces(quote.spans if quote else None, base.spans if base else None, holds[0], holds[1])
    found = [
        (p.since, p.until, p.level.per_base, p.level.in_base) for p in pieces if p.until >= start and p.since <= end
    ]
    expected = [(s.since, s.until, s.rate, s.inverse) for s in stretches(CrossSeries(quote, base), start, end)]
    assert found == expected


def test_a_run_whose_last_span_begins_as_the_other_leg_changes_is_read_span_by_span() -> None:
    """The other leg holds still within the run, and changes the moment its last span begins: that last value is
    then crossed with the new level, never the old one (the run must not be scaled whole)."""
    t0 = datetime(2026, 3, 31, 20, tzinfo=UTC)
    minutes = [t0 + timedelta(minutes=m) for m in range(60)]
    hold = timedelta(minutes=15)
    kzt = Series([Span(t0 - HOUR, minutes[7], VALUES[3]), Span(minutes[14], minutes[40], VALUES[4])], hold)
    kgs = Series([Span(minutes[8], minutes[13], VALUES[8]), Span(minutes[14], minutes[49], VALUES[0])], hold)
    edges = [t0, t0 + HOUR]
    legs, members = [], {}
    for series in (kzt, kgs):
        leg, found = _runs(series, edges)
        legs.append(leg)
        members.update(found)
    first, second = legs
    assert [run.spans_one for run in second.runs] == [False]  # KGS: one run of two spans in the hour
    assert needs_spans(second, first) == list(second.runs)
    both = [_explode(leg, needs_spans(leg, other), members, hold) for leg, other in ((first, second), (second, first))]
    cross = cross_legs(*both)
    _check(buckets(edges, cross.before, cross.runs), [bucket(CrossSeries(kzt, kgs), edges[0], edges[1])])
