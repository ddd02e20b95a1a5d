"""The pair rollups: the cross of every two series of one intraday source (`currency` in units of `base`), summed up per
UTC hour (models.RatePairRollup) and per 24 hours from each hour (models.RatePairRollupDay), as app.ingest.rollup
sums up each series in USD.

A cross whose legs both change every minute changes every half minute; a year of it is a million pieces, too
many to cross on each request. Here each piece is crossed once, when it is written, and a request reads a row
per day (app.read.series). Derived data, like the USD rollups: every write recomputes the pair rows it touches
from rate_span in its own transaction, and `rebuild` recomputes them all.

A piece begins whenever either leg begins a span, once both have begun one, and holds the two legs' values then;
its `last_seen` is the earlier of its legs' last sightings. No lapse is baked in (how long a value holds is a
setting): `inner_gap` records how long a piece went unseen before the next began, and how long before a piece
began one of its legs was last seen, so a reader whose values hold for less reads those hours piece by piece.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import combinations, groupby
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, delete, func, or_, select, text, update

from app.domain.calendar import HOUR, hour_ranges
from app.domain.cross import Cross
from app.domain.pairing import Crossing, crossings, level_text, parse_level
from app.domain.steps import Level, Span, micros
from app.domain.values import EXACT
from app.ingest.rollup import DAY, Extension, Kind, hour_of, insert_rows, rebuild_days, refresh_days, updated
from app.ingest.rollup import Key as SeriesKey
from app.sources.registry import rolls_up_pairs
from app.storage.models import RatePairRollup, RatePairRollupDay, RateSpan
from app.storage.spans import SPAN_COLUMNS, series_of, span_of, spans_of_stretches

SPANS: Table = RateSpan.__table__  # type: ignore[attr-defined]
HOURS: Table = RatePairRollup.__table__  # type: ignore[attr-defined]
DAYS: Table = RatePairRollupDay.__table__  # type: ignore[attr-defined]
_CHUNK = 100  # stretches of hours per statement, as app.ingest.rollup reads them

Key = tuple[str, str, str, datetime]  # (currency, base, source, hour)


def _level(row: Mapping[str, Any], name: str) -> Level:
    return parse_level(row[name])


KIND = Kind(HOURS, DAYS, ("currency", "base", "source"), {n: (n,) for n in ("first", "low", "high", "last")}, _level)


def pair_rows(currency: str, base: str, source: str, hour: datetime, found: Sequence[Crossing]) -> list[dict[str, Any]]:
    """The rows of the pieces `found` (oldest first, all beginning within `hour`) of `currency`/`base`, and of
    the same pieces the other way round (`base`/`currency`): each piece is divided once for both."""
    rates = [piece.value.exact_in_base for piece in found]
    inverses = [piece.value.exact_per_base for piece in found]
    gap = max(0, *(micros(piece.first_seen - piece.last_seen) for piece in found))
    area, inverse_area, covered = Decimal(0), Decimal(0), 0
    for n in range(len(found) - 1):
        lasted = micros(found[n + 1].first_seen - found[n].first_seen)
        area = EXACT.fma(rates[n], lasted, area)
        inverse_area = EXACT.fma(inverses[n], lasted, inverse_area)
        covered += lasted
        gap = max(gap, micros(found[n + 1].first_seen - found[n].last_seen))
    low, high = _extremes(rates)
    shared = {"source": source, "hour": hour, "spans": len(found), "first_seen": found[0].first_seen,
              "last_start": found[-1].first_seen, "last_seen": found[-1].last_seen, "covered": covered,
              "inner_gap": gap}  # fmt: skip
    quote_rows = {"currency": currency, "base": base, "area": str(area), "inverse_area": str(inverse_area)}
    levels = {"first": found[0].value, "low": found[low].value, "high": found[high].value, "last": found[-1].value}
    flipped_low, flipped_high = _extremes(inverses)
    flipped = {"first": found[0].value, "low": found[flipped_low].value, "high": found[flipped_high].value,
               "last": found[-1].value}  # fmt: skip
    return [
        shared | quote_rows | {name: level_text(level) for name, level in levels.items()},
        shared
        | {"currency": base, "base": currency, "area": str(inverse_area), "inverse_area": str(area)}
        | {name: level_text(Cross(level.base, level.quote)) for name, level in flipped.items()},
    ]


def _extremes(rates: Sequence[Decimal]) -> tuple[int, int]:
    """The positions of the lowest and highest of `rates`; of equal ones, the earliest (as the USD rows keep)."""
    low = high = 0
    for n, rate in enumerate(rates):
        if rate < rates[low]:
            low = n
        if rate > rates[high]:
            high = n
    return low, high


def _rows_by_hour(currency: str, base: str, source: str, found: Iterable[Crossing]) -> Iterator[dict[str, Any]]:
    for hour, group in groupby(found, key=lambda piece: hour_of(piece.first_seen)):
        yield from pair_rows(currency, base, source, hour, list(group))


# --- reading the legs ------------------------------------------------------------------------------------------


# A skip along the index on (currency, source, first_seen): each step the next currency after the last, an index
# lookup; then whether the source has spans of it, another. DISTINCT would read every span.
_CURRENCIES = text(
    "WITH RECURSIVE found(currency) AS ("
    " SELECT min(currency) FROM rate_span"
    " UNION ALL"
    " SELECT (SELECT min(currency) FROM rate_span WHERE currency > found.currency) FROM found"
    " WHERE found.currency IS NOT NULL)"
    " SELECT currency FROM found WHERE currency IS NOT NULL AND EXISTS"
    " (SELECT 1 FROM rate_span WHERE rate_span.currency = found.currency AND rate_span.source = :source)"
    " ORDER BY currency"
)


def currencies_of(conn: Connection, source: str) -> list[str]:
    """The currencies with spans from `source` whose crosses are rolled up (none for a source whose are not,
    app.sources.registry.rolls_up_pairs), in one statement of a lookup or two per currency stored."""
    if not rolls_up_pairs(source):
        return []
    return list(conn.scalars(_CURRENCIES, {"source": source}))


# --- keeping them current --------------------------------------------------------------------------------------


def refresh(conn: Connection, keys: Iterable[Key]) -> None:
    """Recompute the rows of the pair hours `keys` (both ways round) from rate_span, and the day rows holding
    them (rows of hours left with no piece disappear). Pairs of one source whose hours are the same (those of
    one poll, mostly) are done together: each leg read once, a statement per step for all of them."""
    wanted: dict[tuple[str, str, str], set[datetime]] = defaultdict(set)
    for currency, base, source, hour in keys:
        if rolls_up_pairs(source):
            wanted[(*_ordered(currency, base), source)].add(hour)
    together: dict[tuple[str, tuple[datetime, ...]], list[tuple[str, str]]] = defaultdict(list)
    for (first, second, source), hours in sorted(wanted.items()):
        together[(source, tuple(sorted(hours)))].append((first, second))
    written: list[Key] = []
    for (source, moments), named in together.items():
        stretches = hour_ranges(moments)
        codes = sorted({code for pair in named for code in pair})
        legs = {code: spans_of_stretches(conn, code, source, stretches) for code in codes}
        rows: list[dict[str, Any]] = []
        for first, second in named:
            for (a, b), quote_spans, base_spans in zip(stretches, legs[first], legs[second], strict=True):
                found = [piece for piece in crossings(quote_spans, base_spans) if a <= piece.first_seen < b]
                rows += _rows_by_hour(first, second, source, found)
            written += [(x, y, source, hour) for hour in moments for x, y in ((first, second), (second, first))]
        c = HOURS.c
        step = max(1, _CHUNK // len(named))
        for at in range(0, len(stretches), step):
            stale = [
                and_(c.currency.in_(pair), c.base.in_(pair), c.hour >= a, c.hour < b)  # both ways round
                for pair in named
                for a, b in stretches[at : at + step]
            ]
            conn.execute(delete(HOURS).where(c.source == source, or_(*stale)))
        insert_rows(conn, rows, HOURS)
    refresh_days(conn, written, KIND)


def touched(
    conn: Connection, keys: Iterable[SeriesKey], extensions: Sequence[Extension], moved: Iterable[Move] = ()
) -> set[Key]:
    """The pair hours whose pieces a write changed: it recomputed the USD rollup hours `keys` of some series
    (spans begun, moved or joined within them) and extended the open spans `extensions`, except the pairs whose
    last piece is `moved` (nothing else of theirs changed)."""
    others: dict[str, list[str]] = {}
    skipped = {pair for m in moved for pair in ((m.currency, m.base, m.source), (m.base, m.currency, m.source))}

    def partners(currency: str, source: str) -> list[str]:
        if source not in others:
            others[source] = currencies_of(conn, source)
        return [other for other in others[source] if other != currency]

    found: set[Key] = set()
    for currency, source, hour in set(keys):
        # A span changed within `hour` is held by every piece from then until the series' next span begins.
        following = conn.execute(
            select(func.min(SPANS.c.first_seen)).where(series_of(currency, source), SPANS.c.first_seen >= hour + HOUR)
        ).scalar()
        others_here = partners(currency, source)
        found |= {(currency, other, source, hour) for other in others_here}
        later = and_(SPANS.c.currency.in_(others_here), SPANS.c.source == source, SPANS.c.first_seen >= hour + HOUR)
        if following is not None:
            later = and_(later, SPANS.c.first_seen < following)
        if others_here:
            spans = conn.execute(select(SPANS.c.currency, SPANS.c.first_seen).where(later))
            found |= {(currency, other, source, hour_of(moment)) for other, moment in spans}
    for extension in extensions:
        # Seen again, the span lasts longer in the pieces whose other leg was seen after its previous sighting
        # (later pieces too: a sighting back in time, as a backfilled or replayed poll may make).
        currency, source = extension.currency, extension.source
        previous = extension.previous_seen or extension.first_seen
        for other in partners(currency, source):
            if (currency, other, source) in skipped:
                continue
            starts = conn.scalars(
                select(SPANS.c.first_seen).where(series_of(other, source), SPANS.c.last_seen > previous)
            )
            found |= {(currency, other, source, hour_of(max(moment, extension.first_seen))) for moment in starts}
    return found


@dataclass(frozen=True, slots=True)
class Move:
    """A pair (both ways round) whose last piece is the one of both legs' open spans, both just seen again: only
    its last_seen moves (on its hour row and the 24 day rows holding that hour, which all end with it)."""

    currency: str
    base: str
    source: str
    start: datetime  # when the piece began
    last_seen: datetime


def moves(extensions: Sequence[Extension]) -> list[Move]:
    """The pairs of `extensions` (both legs' open spans seen again by one write) whose rows only need their
    last_seen moved: the piece of the two open spans holds nothing either leg saw between its previous
    sighting and this one, as each began no later than the other's previous sighting (so both legs had also been
    seen since the piece began: no lapse before it, which the rows' `inner_gap` would count)."""
    found = []
    for x, y in combinations([x for x in extensions if rolls_up_pairs(x.source)], 2):
        if x.source != y.source or x.previous_seen is None or y.previous_seen is None:
            continue
        if y.first_seen <= x.previous_seen and x.first_seen <= y.previous_seen:
            start, seen = max(x.first_seen, y.first_seen), min(x.last_seen, y.last_seen)
            found.append(Move(x.currency, y.currency, x.source, start, seen))
    return found


def _move_last_seen(conn: Connection, found: Sequence[Move]) -> bool:
    """Move last_seen on the rows ending with each moved piece; whether every one of them did (else the rollup is
    out of step with the spans, and the caller recomputes those hours)."""
    for table, key, width in ((HOURS, HOURS.c.hour, HOUR), (DAYS, DAYS.c.start, DAY)):
        c = table.c
        statement = (
            update(table)
            .where(
                # Both ways round: each is one of the two, and they differ.
                c.currency.in_([bindparam("b_currency"), bindparam("b_base")]),
                c.base.in_([bindparam("b_currency"), bindparam("b_base")]),
                c.source == bindparam("b_source"),
                key > bindparam("b_after"),
                key <= bindparam("b_hour"),
                c.last_start == bindparam("b_start"),
            )
            .values(last_seen=bindparam("b_last_seen"))
        )
        params = [
            {"b_currency": m.currency, "b_base": m.base, "b_source": m.source, "b_after": hour_of(m.start) - width,
             "b_hour": hour_of(m.start), "b_start": m.start, "b_last_seen": m.last_seen}
            for m in found
        ]  # fmt: skip
        if not updated(conn, statement, params, 2 * (width // HOUR)):
            return False
    return True


def follow(conn: Connection, keys: Iterable[SeriesKey], extensions: Sequence[Extension] = ()) -> None:
    """Bring the pair rollups up to a write, once every span of it is in place: the pairs of two open spans
    both seen again move their last_seen (a poll of unchanged values); the other hours it changed (see
    `touched`) are recomputed."""
    moved = moves(extensions)
    found = touched(conn, keys, extensions, moved)
    if moved and not _move_last_seen(conn, moved):
        found |= {(m.currency, m.base, m.source, hour_of(m.start)) for m in moved}  # refresh: both ways round
    refresh(conn, found)


# --- all of it -------------------------------------------------------------------------------------------------


def _sources(conn: Connection) -> list[str]:
    stored = conn.scalars(select(SPANS.c.source).distinct().order_by(SPANS.c.source))
    return [source for source in stored if rolls_up_pairs(source)]


def _all_rows(conn: Connection) -> Iterator[dict[str, Any]]:
    """Every pair hour row, computed from rate_span a source at a time."""
    for source in _sources(conn):
        yield from _rows_of_source(conn, source)


def _rows_of_source(conn: Connection, source: str) -> Iterator[dict[str, Any]]:
    """The pair hour rows of one source, from one pass over each of its series (streamed side by side, merged
    by time: a store holds years of them), an hour of pieces per pair in memory."""
    streams: dict[str, Iterator[Span]] = {}
    waiting: list[tuple[datetime, str, Span]] = []  # the next span of each series, earliest first
    for currency in currencies_of(conn, source):
        statement = select(*SPAN_COLUMNS).where(series_of(currency, source)).order_by(SPANS.c.first_seen)
        rows = conn.execute(statement, execution_options={"yield_per": 20_000})
        streams[currency] = (span_of(row) for row in rows)
        _queue(waiting, currency, streams[currency])
    held: dict[str, Span] = {}
    hours: dict[tuple[str, str], list[Crossing]] = {}
    while waiting:
        moment = waiting[0][0]
        changed = []
        while waiting and waiting[0][0] == moment:
            _, currency, span = heapq.heappop(waiting)
            held[currency] = span
            changed.append(currency)
            _queue(waiting, currency, streams[currency])
        for first, second in sorted(
            {_ordered(currency, other) for currency in changed for other in held if other != currency}
        ):
            a, b = held[first], held[second]
            piece = Crossing(moment, min(a.last_seen, b.last_seen), Cross(a.value, b.value))
            found = hours.setdefault((first, second), [])
            if found and hour_of(found[0].first_seen) != hour_of(moment):
                yield from pair_rows(first, second, source, hour_of(found[0].first_seen), found)
                found = hours[(first, second)] = []
            found.append(piece)
    for (first, second), found in hours.items():
        yield from pair_rows(first, second, source, hour_of(found[0].first_seen), found)


def _queue(waiting: list[tuple[datetime, str, Span]], currency: str, stream: Iterator[Span]) -> None:
    span = next(stream, None)
    if span is not None:
        heapq.heappush(waiting, (span.first_seen, currency, span))


def _ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def rebuild(conn: Connection) -> int:
    """Recompute both pair rollups from rate_span; returns the rows written."""
    conn.execute(delete(HOURS))
    return insert_rows(conn, _all_rows(conn), HOURS) + rebuild_days(conn, KIND)


_ORDER = (HOURS.c.currency, HOURS.c.base, HOURS.c.source, HOURS.c.hour)


def computed(conn: Connection) -> list[dict[str, Any]]:
    """Every pair hour row as recomputed from the spans, without writing it (for checks and tests)."""
    return sorted(_all_rows(conn), key=lambda row: (row["currency"], row["base"], row["source"], row["hour"]))


def stored(conn: Connection) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in conn.execute(select(HOURS).order_by(*_ORDER))]


def stored_days(conn: Connection) -> list[dict[str, Any]]:
    d = DAYS.c
    return [dict(row._mapping) for row in conn.execute(select(DAYS).order_by(d.currency, d.base, d.source, d.start))]
