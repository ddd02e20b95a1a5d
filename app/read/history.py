"""A currency's history as /rates/{currency}/history and /rates/history answer it: the stored spans of a range, or
buckets of the step function they make, in USD or in units of another currency, in any time zone.

One series is a (currency, source) of spans; USD itself is None. In another base each point is the cross of the
two legs in force (app.domain.steps), and the answer names the source of each leg.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from app.core.jsonenc import iso
from app.core.numbers import plain
from app.core.settings import Settings
from app.domain.calendar import MAX_BUCKETS, Calendar
from app.domain.steps import NEVER, Level, Piece, Span, cross_pieces
from app.domain.values import USD
from app.read.inforce import in_force
from app.read.latest import LatestService
from app.read.series import (
    Series,
    TooMuchWork,
    count_between,
    cross_leg_extent,
    has_spans,
    leg_page,
    raw_extent,
    series_buckets,
    spans_between,
)
from app.sources.registry import cadence, served_sources

# A raw JSON answer holds at most this many spans (a week of per-minute changes); a bigger range is asked for
# with an interval, or as CSV, which streams any number.
MAX_RAW_POINTS = MAX_BUCKETS
TOO_MANY_IN_ALL = (
    f"more than {MAX_RAW_POINTS:,} spans in all; ask fewer currencies, a narrower range or an interval, or for "
    "format=csv, which streams any number"
)


class NoData(LookupError):
    """A currency with no data from any source yet (or from the source asked for, in another base)."""


def default_source(conn: Connection, latest: LatestService, settings: Settings, currency: str) -> str | None:
    """The source /rates/latest takes `currency` from; before any snapshot, the first served one with data."""
    best = latest.best_source(currency)
    if best is not None:
        return best
    return next((source for source in served_sources(settings, currency) if has_spans(conn, currency, source)), None)


def series_for(
    conn: Connection,
    latest: LatestService,
    settings: Settings,
    currency: str,
    asked: str | None,
    at: datetime | None = None,
) -> Series:
    """The series of `currency` from the source asked for, or (`at`) the best source as of `at` by the one rule
    (app.read.inforce), or the default one (NoData when it has none)."""
    held = in_force(conn, settings, currency, at) if asked is None and at is not None else None
    found = asked or (held.source if held is not None else None) or default_source(conn, latest, settings, currency)
    if found is None:
        raise NoData(f"no data for {currency} yet")
    return Series(currency, found, cadence(settings, found).hold)


def as_of(end: datetime, now: datetime) -> datetime | None:
    """The instant whose best source answers a range without `source=`: its end when that is past (a history of
    last April comes from the source that was best then), else None (the source /rates/latest shows now)."""
    return end if end < now else None


@dataclass(frozen=True, slots=True)
class Window:
    """The range of a history or export request, and its buckets (None: `raw`, the stored spans)."""

    start: datetime
    end: datetime
    calendar: Calendar | None
    # The present, rounded up to the minute: the current bucket is averaged up to it (the rest has not happened
    # yet), and whatever was seen by now is inside it.
    horizon: datetime = NEVER

    @property
    def interval(self) -> str:
        return self.calendar.interval if self.calendar is not None else "raw"

    @property
    def unfinished(self) -> datetime | None:
        """The horizon, when the last bucket is not over by then: its answer changes as time passes, so caches key
        on it (to the minute, so a repeated request within one still hits)."""
        if self.calendar is None or self.calendar.following(self.calendar.floor(self.end)) <= self.horizon:
            return None
        return self.horizon


class TooManyPoints(TooMuchWork):
    """More spans in the range than a raw answer holds; the message says what to ask instead."""


def stamp(moment: datetime, zone: tzinfo) -> str:
    """A time as answers write it: UTC with a `Z`, or in the asked zone with its offset (`...T00:00:00+05:00`)."""
    return iso(moment) if zone is UTC else moment.astimezone(zone).isoformat()


def pair_for(
    conn: Connection,
    latest: LatestService,
    settings: Settings,
    currency: str,
    base: str,
    asked: str | None,
    at: datetime | None = None,
) -> Pair:
    """`currency` in units of `base`, each leg from the source asked for, or the best one as of `at`, or its default
    one (USD being none)."""

    def leg(code: str) -> Series | None:
        return None if code == USD else series_for(conn, latest, settings, code, asked, at)

    return Pair(currency, leg(currency), base, leg(base))


def pairs_for(
    conn: Connection,
    latest: LatestService,
    settings: Settings,
    codes: list[str],
    base: str,
    asked: str | None,
    at: datetime | None = None,
) -> list[Pair]:
    """The pairs of an answer about several currencies: each of `codes` in units of `base`, in order, leaving out a
    currency with no data from any source yet (all of them, when the base has none). Asked for one at a time, such
    a currency is a 404 (NoData); among several, one never polled must not make the whole answer fail."""
    found = []
    for code in codes:
        try:
            found.append(pair_for(conn, latest, settings, code, base, asked, at))
        except NoData:
            continue
    return found


@dataclass(frozen=True, slots=True)
class Pair:
    """What a history is of: a currency (None: USD) in units of a base (None: USD), each from its series."""

    currency: str
    quote_leg: Series | None  # the currency's series (None: USD)
    base_code: str
    base_leg: Series | None  # the base's series (None: USD)

    @property
    def name(self) -> str:
        """In market notation, as answers write `pair`: the base first (`USD/KZT`: tenge per dollar)."""
        return f"{self.base_code}/{self.currency}"

    def head(self) -> dict[str, Any]:
        """The answer's opening fields: the currency and its source, then (another base) the base and its source."""
        found: dict[str, Any] = {"currency": self.currency, "source": self.quote_leg.source if self.quote_leg else None}
        if self.base_leg is not None:
            found |= {"base": self.base_code, "base_source": self.base_leg.source}
        return found


def raw_points(
    conn: Connection, pair: Pair, start: datetime, end: datetime, zone: tzinfo, budget: int = MAX_RAW_POINTS
) -> list[dict[str, Any]]:
    """The spans overlapping [start, end] (in another base: the stretches of one cross rate), oldest first; more
    than `budget` of them (what an answer of several series has left) is refused as soon as it is known."""
    if pair.base_leg is None:
        assert pair.quote_leg is not None
        spans = spans_between(conn, pair.quote_leg.currency, pair.quote_leg.source, start, end, budget + 1)
        _check_raw(len(spans), budget, pair, start, end)
        return [
            {
                "since": stamp(span.first_seen, zone),
                "until": stamp(span.last_seen, zone),
                "rate": span.value.per_base,
                "inverse": span.value.in_base,
                "observations": span.observations,
                "effective_date": span.effective_date,
            }
            for span in spans
        ]
    pieces, more = cross_page(conn, pair, start, end, None, budget)
    _check_raw(budget + 1 if more is not None else len(pieces), budget, pair, start, end)
    return [
        {
            "since": stamp(p.since, zone),
            "until": stamp(p.until, zone),
            "rate": p.level.per_base,
            "inverse": p.level.in_base,
        }
        for p in pieces
    ]


def check_raw_total(conn: Connection, pairs: list[Pair], start: datetime, end: datetime) -> None:
    """Refuse a raw answer of several series whose USD series alone hold more than MAX_RAW_POINTS spans in the
    range, from counts, before any series is read (a cross's stretches are known only once crossed: those are
    counted as they are made)."""
    total = 0
    for pair in pairs:
        if pair.base_leg is None and pair.quote_leg is not None:
            total += count_between(conn, pair.quote_leg.currency, pair.quote_leg.source, start, end, MAX_RAW_POINTS + 1)
            if total > MAX_RAW_POINTS:
                raise TooManyPoints(TOO_MANY_IN_ALL)


def cross_page(
    conn: Connection, pair: Pair, start: datetime, end: datetime, after: datetime | None, limit: int
) -> tuple[list[Piece], datetime | None]:
    """One page of the raw stretches of the cross `pair` over [start, end], oldest first: those that begin from
    `after` (None: the first page, from those seen at or after `start`) up to where the next page of either leg
    begins (each leg reads at most `limit` spans), and that place (None: this was the last page).

    Each leg is read from the span begun last at or before the page's start: last seen before it, that span may
    still hold into the range when the other leg begins a span, and the cross is in force from then. A leg with
    no span there or later has nothing in force: no stretches. JSON reads one page, the CSV export every page."""
    since = after if after is not None else start
    legs: list[list[Span] | None] = []
    stop = NEVER
    for leg in (pair.quote_leg, pair.base_leg):
        if leg is None:
            legs.append(None)
            continue
        spans, following = leg_page(conn, leg, since, end, limit)
        legs.append(spans)
        stop = min(stop, following)
    holds = [leg.hold if leg is not None else timedelta(0) for leg in (pair.quote_leg, pair.base_leg)]
    pieces = cross_pieces(legs[0], legs[1], holds[0], holds[1], stop)
    kept = [p for p in pieces if (p.since >= since or (after is None and p.until >= start)) and p.since <= end]
    return kept, (stop if stop != NEVER else None)


def _check_raw(count: int, budget: int, pair: Pair, start: datetime, end: datetime) -> None:
    if count <= budget:
        return
    if budget < MAX_RAW_POINTS:  # the series before this one took the rest
        raise TooManyPoints(TOO_MANY_IN_ALL)
    what = f"{pair.currency} from {pair.quote_leg.source}" if pair.quote_leg and not pair.base_leg else pair.name
    raise TooManyPoints(
        f"more than {MAX_RAW_POINTS:,} spans of {what} between {iso(start)} and {iso(end)}; narrow the range, "
        "ask for interval=1h (or 1d, 1w, 1mo), or for format=csv, which streams any number"
    )


def _numbers() -> Callable[[Level | None], Decimal | None]:
    """Bucket values are numbers, not published texts: one spelling (0.0115, not 0.01150) on every backend. Each
    level is written once per answer: one bucket's close is mostly the next one's open, the same object."""
    written: dict[int, Decimal] = {}  # by id: every level stays alive in the buckets until the answer is made

    def number(level: Level | None) -> Decimal | None:
        if level is None:
            return None
        found = written.get(id(level))
        if found is None:
            found = written[id(level)] = plain(level.per_base)
        return found

    return number


def bucket_points(
    conn: Connection, pair: Pair, calendar: Calendar, start: datetime, end: datetime, horizon: datetime
) -> list[dict[str, Any]]:
    """One point per bucket start in [start, end]: open, high, low, close and the time-weighted average (of the
    current bucket: up to `horizon`, the present), each of `rate` (units of the currency per one of the base)."""
    number = _numbers()
    found = series_buckets(conn, pair.quote_leg, calendar, start, end, pair.base_leg, horizon)
    return [
        {
            "t": stamp(bucket.t, calendar.zone),
            "open": number(bucket.open),
            "high": number(bucket.high),
            "low": number(bucket.low),
            "close": number(bucket.close),
            "average": bucket.average,
        }
        for bucket in found
    ]


def document(
    conn: Connection,
    pair: Pair,
    start: datetime,
    end: datetime,
    calendar: Calendar | None,
    zone: tzinfo,
    horizon: datetime = NEVER,
    budget: int = MAX_RAW_POINTS,
) -> dict[str, Any]:
    """One currency's answer of /rates/{currency}/history (interval and time zone included); raw, at most
    `budget` spans."""
    found = pair.head()
    if calendar is None:
        found["interval"] = "raw"
        if zone is not UTC:
            found["tz"] = str(zone)
        found["points"] = raw_points(conn, pair, start, end, zone, budget)
        return found
    found["interval"] = calendar.interval
    if calendar.zone is not UTC:
        found["tz"] = str(calendar.zone)
    found["points"] = bucket_points(conn, pair, calendar, start, end, horizon)
    return found


def answer_key(conn: Connection, pair: Pair, window: Window, zone: tzinfo) -> tuple[object, ...]:
    """What decides a history's answer besides the data version: whole buckets for a bucket interval (the answer
    depends on the first and last bucket start only), the spans covered for raw (its default end is "now", ever
    moving)."""
    legs = (pair.quote_leg, pair.base_leg)
    head = (pair.currency, pair.base_code, *(leg.source if leg else None for leg in legs), str(zone))
    calendar = window.calendar
    if calendar is not None:
        return (*head, calendar.interval, calendar.ceil(window.start), calendar.floor(window.end), window.unfinished)
    start, end = window.start, window.end
    if pair.base_leg is None:
        extents = [raw_extent(conn, leg.currency, leg.source, start, end) for leg in legs if leg is not None]
    else:  # a cross also depends on a span last seen before the range that holds into it
        extents = [cross_leg_extent(conn, leg, start, end) for leg in legs if leg is not None]
    return (*head, "raw", *extents)


def documents(conn: Connection, pairs: list[Pair], window: Window, zone: tzinfo, base: str) -> dict[str, Any]:
    """Several series' histories in one answer, each as `document` gives it; the raw limit applies to the whole
    (TooManyPoints past it)."""
    head: dict[str, Any] = {"interval": window.interval, "base": base}
    if zone is not UTC:
        head["tz"] = str(zone)
    series = []
    left = MAX_RAW_POINTS  # raw spans the answer may still hold: each series is refused once it would pass them
    if window.calendar is None:
        check_raw_total(conn, pairs, window.start, window.end)
    for pair in pairs:
        one = document(conn, pair, window.start, window.end, window.calendar, zone, window.horizon, left)
        if window.calendar is None:
            left -= len(one["points"])
        series.append({k: v for k, v in one.items() if k not in ("interval", "base", "tz")})
    return {**head, "series": series}
