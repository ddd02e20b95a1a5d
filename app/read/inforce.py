"""The rate at an instant T: which value of which source is in force for a currency at T, and as what.

One rule, used by /rates/at, /convert?at= and both ends of the change windows (the date view, app.read.daily, asks
the same freshness rule at the end of a date in the zone defined here):

- The value of a source at T is its last span begun at or before T, if the freshness rule of the source
  (app.domain.freshness, `Cadence.state`) says it is in force then (fresh, or stale but still held); a value past
  its hold is not the rate at T, and neither is one first seen after T.
- Without a named source, the source is the best one *as of T*: the first in order of preference with a fresh value
  at T, else the first with one still in force (stale), whatever source is best now.
- As known at T: `effective_date` is the date stored for the value, never later than T's date in the source's own
  zone (NBK publishes at its local midnight, 19:05 UTC the day before: at 19:30 UTC its new rate is the next day's);
  `last_seen` is the last sighting at or before T. A span stores only its first and last sightings; in between, a
  value was last seen at the last successful poll of its source at or before T (the poll log, by the index on
  (source, started_at)); where the poll log has no such poll (history loaded by backfill or import), T itself.
  Two limits, as the poll log stores polls and not sightings: a poll's start precedes the stamp of what it saw by
  the time its fetch took, and a `partial` poll counts although it may have refused this very currency.
  `since` (first_seen) is the start of the value's current unbroken run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

from sqlalchemy import Connection, Select, Table, select

from app.core.settings import Settings
from app.domain.freshness import Seen, State
from app.domain.outcome import SUCCESSES
from app.domain.steps import Span
from app.domain.values import Value
from app.read.series import span_at
from app.sources.registry import SOURCES, cadence, prefer_usd_quotes, served_sources
from app.storage.models import PollLog

POLLS: Table = PollLog.__table__  # type: ignore[attr-defined]
_SUCCEEDED = sorted(str(outcome) for outcome in SUCCESSES)


def own_zone(source: str) -> tzinfo:
    """The publisher's zone: none of the region's observes daylight saving time."""
    return timezone(timedelta(hours=SOURCES[source].utc_offset_hours))


def stated_at(source: str, effective_date: date | None, at: datetime) -> date | None:
    """The effective date of a value as known at `at`: as stored, but never later than `at`'s date where the source
    publishes."""
    if effective_date is None:
        return None
    return min(effective_date, at.astimezone(own_zone(source)).date())


def state_at(settings: Settings, source: str, seen: Seen, at: datetime) -> State:
    """The state at `at` of a stored value of `source`: its freshness rule (app.domain.freshness), nothing else."""
    return cadence(settings, source).state(seen, at)


def choose(settings: Settings, found: Sequence[tuple[str, Seen]], at: datetime) -> tuple[int, State] | None:
    """Of (source, value) candidates in order of preference, the one in force at `at`: the first fresh one, else the
    first one still in force (stale); None when none is."""
    states = [state_at(settings, source, seen, at) for source, seen in found]
    for wanted in (State.FRESH, State.STALE):
        for index, state in enumerate(states):
            if state is wanted:
                return index, state
    return None


def last_poll(source: str, lower: datetime, upper: datetime) -> Select[Any]:
    """When the last successful poll of `source` in [lower, upper] began: one walk back along the poll log's index
    on (source, started_at), from `upper`."""
    polls = POLLS.c
    return (
        select(polls.started_at)
        .where(polls.source == source, polls.started_at >= lower, polls.started_at <= upper)
        .where(polls.outcome.in_(_SUCCEEDED))
        .order_by(polls.started_at.desc())
        .limit(1)
    )


def last_sighting(
    conn: Connection, source: str, first_seen: datetime, last_seen: datetime, at: datetime, interval: timedelta
) -> datetime:
    """When a value seen from `first_seen` to `last_seen` was last seen at or before `at` (at or after `first_seen`).

    Past its last sighting, that sighting. Within its span, the start of the last successful poll of the source at
    or before `at` (one walk back along the index on (source, started_at)): a poll that succeeded saw every value of
    the spans it extended. When that poll began before `first_seen` (within a poll interval: the poll that first saw
    the value, which is stamped when its answer came), `first_seen`. When no poll is logged that near (history
    loaded by backfill or import), the poll log cannot tell, and `at` itself is answered."""
    if last_seen <= at:
        return last_seen
    found: datetime | None = conn.execute(last_poll(source, first_seen - interval, at)).scalar()
    if found is None:
        return at
    return max(found, first_seen)


@dataclass(frozen=True, slots=True)
class Held:
    """The value of one source for one currency in force at `at`, as known then."""

    currency: str
    source: str
    span: Span
    state: State
    at: datetime
    last_seen: datetime  # the last sighting at or before `at`
    effective_date: date | None  # as stated for no later day than `at`'s, in the source's zone

    @property
    def value(self) -> Value:
        return self.span.value

    @property
    def first_seen(self) -> datetime:
        """The start of the value's current unbroken run (the API's `since`)."""
        return self.span.first_seen

    @property
    def stale(self) -> bool:
        return self.state is State.STALE


def order_of(settings: Settings, source: str | None) -> list[str]:
    """The sources to consider, best first: the one named, or every served one in order of preference."""
    return [source] if source is not None else served_sources(settings)


def in_force(
    conn: Connection, settings: Settings, currency: str, at: datetime, source: str | None = None
) -> Held | None:
    """The value of `currency` in force at `at` from `source`, or (None) from the best source as of `at`; None
    when no source has one in force then."""
    order = prefer_usd_quotes(order_of(settings, source), currency)
    found = [(name, span) for name in order if (span := span_at(conn, currency, name, at))]
    chosen = choose(settings, found, at)
    if chosen is None:
        return None
    index, state = chosen
    name, span = found[index]
    seen = last_sighting(conn, name, span.first_seen, span.last_seen, at, cadence(settings, name).interval)
    return Held(currency, name, span, state, at, seen, stated_at(name, span.effective_date, at))


def lapse_before(
    conn: Connection, settings: Settings, currency: str, source: str, at: datetime
) -> tuple[datetime, Span] | None:
    """The last instant at or before `at` when `source` had a value of `currency` in force, and that value: `at`
    itself when one is in force then, else the end of the hold of the last value begun before it."""
    span = span_at(conn, currency, source, at)
    if span is None:
        return None
    if state_at(settings, source, span, at).in_force:
        return at, span
    return cadence(settings, source).held_until(span), span
