"""The official rate for a date: what invoices, customs declarations and tax returns ask for.

A central bank states each rate for a date (its effective date), in its own calendar: NBK publishes at its
local midnight, 19:05 UTC the day before. So a bank's rate for `D` is the value in force at the end of `D` in
the bank's own zone, dated as the bank dated it; when it stated nothing for `D` (a weekend, a holiday, a late
table) that is its last earlier rate, marked `carried_from`, and never one carried beyond the source's hold. A
rate a bank published for `D` before `D` (NBKR's next-day rate) answers for `D` alone, marked `announced`,
until a poll sees it in force. A source keyed by instants (the ticker) answers with what held at the end of `D` in
the zone the caller names.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, select

from app.core.settings import Settings
from app.domain.cross import cross
from app.domain.freshness import Cadence, Publication, State
from app.domain.steps import Span
from app.domain.values import USD, Value
from app.read.inforce import own_zone
from app.read.series import span_at, spans_between, stored_range
from app.sources.registry import SOURCES, cadence, cross_method, prefer_usd_quotes
from app.storage.models import RateAnnouncement

_ONE = Decimal(1)
MAX_DAYS = 366  # a range of dates is answered day by day: a year at most per request
MAX_OFFICIAL_SPANS = 10_000  # a bank's year is a few hundred fixings
ANNOUNCED: Table = RateAnnouncement.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Fixing:
    """One source's value of one currency for a date."""

    currency: str
    source: str
    value: Value
    effective_date: date | None  # the date the source stated it for (None: a source keyed by instants)
    carried_from: date | None  # set when the source stated nothing for the day: the earlier date it stated
    first_seen: datetime
    last_seen: datetime  # as known at the end of the day: never later
    stale: bool
    next_update: datetime | None = None  # announced by the source (app.domain.freshness)
    announced: bool = False  # published before its date, and not yet seen in force (app.storage.models)


def day_end(day: date, zone: tzinfo, now: datetime) -> datetime:
    """The last instant of `day` in `zone` (UTC), or now while the day is not over."""
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC) - timedelta(microseconds=1)
    return min(end, now)


class DayReader:
    """The fixings of one request: each series read once, whatever the number of dates asked.

    An official series changes once a day at most, so its spans over the range are read in one query and looked
    up in memory; a series keyed by instants (a span a minute) is sought once per date by its index instead. A
    series with nothing stored near the range costs one lookup.
    """

    def __init__(
        self,
        conn: Connection,
        settings: Settings,
        first: date,
        last: date,
        zone: tzinfo | None,
        now: datetime,
        announced: bool = True,
    ) -> None:
        """`announced`: whether a rate announced for a date answers for it (an answer that cannot mark it as
        announced, such as Frankfurter's, leaves it out)."""
        self.conn, self.settings, self.zone, self.now = conn, settings, zone, now
        self.with_announced = announced
        self.first, self.last = first, last
        self._official: dict[tuple[str, str], list[Span] | None] = {}
        self._announced: dict[tuple[str, str, date], RateAnnouncement] | None = None

    def _spans(self, currency: str, source: str, carry: timedelta) -> list[Span] | None:
        """An official series' spans that may answer for a date of the range (None: nothing stored near it)."""
        key = (currency, source)
        if key not in self._official:
            found = stored_range(self.conn, currency, source)
            lower = datetime.combine(self.first, time.min, tzinfo=UTC) - carry - timedelta(days=1)
            upper = day_end(self.last, UTC, self.now) + timedelta(days=1)
            if found is None or found[1] < lower or found[0] > upper:
                self._official[key] = None
            else:
                self._official[key] = spans_between(self.conn, currency, source, lower, upper, MAX_OFFICIAL_SPANS)
        return self._official[key]

    def _span_at(self, currency: str, source: str, instant: datetime, official: bool, carry: timedelta) -> Span | None:
        if not official:
            return span_at(self.conn, currency, source, instant)
        spans = self._spans(currency, source, carry)
        if not spans:
            return None
        index = bisect_right([s.first_seen for s in spans], instant)
        return spans[index - 1] if index else None

    def fixing(self, currency: str, source: str, day: date) -> Fixing | None:
        """`source`'s value of `currency` for `day`, or None when it had none in force then."""
        rule = cadence(self.settings, source)
        official = rule.publication is Publication.DAILY
        local = own_zone(source) if official or self.zone is None else self.zone
        begun = datetime.combine(day, time.min, tzinfo=local) <= self.now
        held = self._held(currency, source, day, local, rule) if begun else None
        if official and self.with_announced and (held is None or held.effective_date != day):
            # The bank stated a rate for this very day before it began: that is the rate for the day.
            return self._announcement(currency, source, day) or held
        return held

    def _held(self, currency: str, source: str, day: date, local: tzinfo, rule: Cadence) -> Fixing | None:
        """The stored rate in force at the end of `day` in `local`, if it still held by the source's rule."""
        official = rule.publication is Publication.DAILY
        instant = day_end(day, local, self.now)
        span = self._span_at(currency, source, instant, official, rule.carry)
        if span is None:
            return None
        last_seen = min(span.last_seen, instant)
        stated = min(span.effective_date, day) if official and span.effective_date is not None else None
        if stated is not None and day - stated > rule.carry:
            return None  # carried longer than a bank's rate holds
        known = Fixing(currency, source, span.value, stated, None, span.first_seen, last_seen, False, span.next_update)
        state = rule.state(known, instant)
        if state not in (State.FRESH, State.STALE):
            return None
        carried = stated if stated is not None and stated < day else None
        stale = state is State.STALE
        return Fixing(
            currency, source, span.value, stated, carried, span.first_seen, last_seen, stale, span.next_update
        )

    def _announcement(self, currency: str, source: str, day: date) -> Fixing | None:
        """The rate `source` announced for `day`, if it did: all of the range's announcements are read at once."""
        if self._announced is None:
            rows = self.conn.execute(
                select(ANNOUNCED).where(ANNOUNCED.c.effective_date.between(self.first, self.last))
            ).all()
            self._announced = {(r.currency, r.source, r.effective_date): RateAnnouncement(**r._mapping) for r in rows}
        row = self._announced.get((currency, source, day))
        if row is None or row.first_seen > self.now:
            return None
        last_seen = min(row.last_seen, self.now)
        return Fixing(currency, source, row.published, day, None, row.first_seen, last_seen, False, announced=True)

    def best(self, currency: str, order: Sequence[str], day: date) -> Fixing | None:
        """The first source in `order` with a fresh value for `day`, else the first with one still in force: the
        same preference as /rates/latest (the sources after the first fresh one are not read)."""
        held = None
        for source in prefer_usd_quotes(order, currency):
            found = self.fixing(currency, source, day)
            if found is not None and not found.stale:
                return found
            held = held or found
        return held


def _leg(fixing: Fixing) -> dict[str, Any]:
    return {
        "source": fixing.source,
        "value": fixing.value.text,
        "effective_date": fixing.effective_date,
        "carried_from": fixing.carried_from,
        "stale": fixing.stale,
        "announced": fixing.announced,
    }


def entry(currency: str, base: str, quote: Fixing | None, base_fixing: Fixing | None) -> dict[str, Any]:
    """One currency's rate for the day in units per one `base` (None fixing: USD itself), with what it rests on."""
    if base_fixing is None and quote is not None:  # in USD: the published digits stay as published
        rate, inverse = quote.value.per_base, quote.value.in_base
    else:
        rate, _ = cross(_ONE, base_fixing.value if base_fixing else None, quote.value if quote else None)
        inverse, _ = cross(_ONE, quote.value if quote else None, base_fixing.value if base_fixing else None)
    legs = [f for f in (quote, base_fixing) if f is not None]
    document: dict[str, Any] = {
        "currency": currency,
        "pair": f"{base}/{currency}",
        "rate": rate,
        "inverse": inverse,
        "source": quote.source if quote is not None else None,
        "effective_date": quote.effective_date if quote is not None else None,
        "carried_from": quote.carried_from if quote is not None else None,
        "stale": any(f.stale for f in legs),
        "announced": any(f.announced for f in legs),
    }
    if base != USD:
        same_day = quote is not None and base_fixing is not None and quote.effective_date == base_fixing.effective_date
        document["method"] = cross_method(
            currency,
            quote.source if quote is not None else None,
            base,
            base_fixing.source if base_fixing is not None else None,
            same_day,
        )
        document["legs"] = {f.currency: _leg(f) for f in legs}
    return document


def day_rates(
    reader: DayReader, day: date, wanted: Sequence[str], base: str, order: Sequence[str]
) -> list[dict[str, Any]]:
    """Every `wanted` currency's rate for `day` in units of `base`; a currency with nothing in force is left out
    (and every one, when the base has nothing)."""
    base_fixing = reader.best(base, order, day) if base != USD else None
    if base != USD and base_fixing is None:
        return []
    rates: list[dict[str, Any]] = []
    for currency in wanted:
        if currency == base:  # one unit of it is one unit of it, whatever was fixed
            rates.append(_itself(base))
            continue
        quote = reader.best(currency, order, day) if currency != USD else None
        if currency != USD and quote is None:
            continue
        rates.append(entry(currency, base, quote, base_fixing))
    return rates


def _itself(base: str) -> dict[str, Any]:
    return {
        "currency": base, "pair": f"{base}/{base}", "rate": _ONE, "inverse": _ONE, "source": None,
        "effective_date": None, "carried_from": None, "stale": False, "announced": False,
    }  # fmt: skip


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def attribution(rates: Sequence[dict[str, Any]]) -> list[str]:
    """The credits the sources of these rates ask for."""
    names = {r["source"] for r in rates if r["source"]} | {s for r in rates for s in _leg_sources(r)}
    return sorted({credit for name in names if (credit := SOURCES[name].attribution)})


def _leg_sources(rate: dict[str, Any]) -> list[str]:
    return [leg["source"] for leg in rate.get("legs", {}).values()]
