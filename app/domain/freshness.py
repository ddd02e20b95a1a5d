"""How long a value holds: the one rule every endpoint asks "is this value in force, is it stale, at instant T?".

A source declares its cadence (app.sources.base.SourceSpec), which the settings may tune:

- intraday (the ticker): a value holds while polls keep confirming it, fresh until `max_gap` (three polls by
  default) after its last sighting; from that instant it is stale, and just after it no longer in force: history
  shows a gap there.
- announced (ExchangeRate-API): a feed that publishes once a day and says when it will publish next. A value is
  fresh until that announced next update plus `max_gap` (the poller's time to see the new one: three polls by
  default), whatever the day's polls did; past it, the value is stale if polls still confirm it (the feed did not
  move on) and no longer in force `max_gap` after its last sighting. A value stored without an announcement (before
  it was kept) follows the intraday rule.
- daily (a central bank, the peg): an official rate holds until the next publication. It turns stale once its
  effective date is `stale_days` old (banks publish on working days only, so a long weekend is not stale), and it
  stays in force, stale, until `carry` after it was last seen (a week without publication: the longest holidays);
  after that history shows a gap and nothing is in force.

At any instant a stored value (a span: first_seen, last_seen, effective_date, next_update) is in exactly one state:
not yet published, fresh, stale (in force but old), or lapsed (no longer in force).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol


class Publication(enum.StrEnum):
    INTRADAY = "intraday"
    ANNOUNCED = "announced"  # daily, with the next update announced in each response
    DAILY = "daily"


class State(enum.Enum):
    NOT_YET = "not yet"  # before the value was first seen
    FRESH = "fresh"
    STALE = "stale"  # still the value in force, but old: served flagged, used by conversions flagged
    LAPSED = "lapsed"  # past the carry bound: nothing is in force any more

    @property
    def in_force(self) -> bool:
        return self in (State.FRESH, State.STALE)


class Seen(Protocol):
    """What the rule needs to know of a stored value."""

    @property
    def first_seen(self) -> datetime: ...

    @property
    def last_seen(self) -> datetime: ...

    @property
    def effective_date(self) -> date | None: ...

    @property
    def next_update(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class Cadence:
    publication: Publication
    interval: timedelta  # between polls
    max_gap: timedelta  # unseen for longer, an unchanged value starts a new span
    stale_days: int = 4  # daily: stale once its effective date is this many days old
    carry: timedelta = timedelta(days=8)  # daily: in force this long after it was last seen

    @property
    def hold(self) -> timedelta:
        """How long after its last sighting a value is still in force."""
        return max(self.max_gap, self.carry) if self.publication is Publication.DAILY else self.max_gap

    def _announced_until(self, seen: Seen) -> datetime | None:
        """Announced: the end of the value's freshness, its source's next update plus the grace (`max_gap`)."""
        if self.publication is Publication.ANNOUNCED and seen.next_update is not None:
            return seen.next_update + self.max_gap
        return None

    def held_until(self, seen: Seen) -> datetime:
        """The last instant the value is in force: after it, nothing is (a gap in history)."""
        held = seen.last_seen + self.hold
        announced = self._announced_until(seen)
        return max(held, announced) if announced is not None else held

    def stale_at(self, seen: Seen) -> datetime:
        """The first instant the value is stale (never later than the moment it stops being in force)."""
        if self.publication is Publication.DAILY and seen.effective_date is not None:
            expires = seen.effective_date + timedelta(days=self.stale_days + 1)
            return min(datetime.combine(expires, time.min, tzinfo=UTC), self.held_until(seen))
        announced = self._announced_until(seen)
        return announced if announced is not None else self.held_until(seen)

    def state(self, seen: Seen, at: datetime) -> State:
        """The value's state at `at`: the one answer to "in force?" and "stale?" everywhere."""
        if at < seen.first_seen:
            return State.NOT_YET
        if at > self.held_until(seen):
            return State.LAPSED
        return State.STALE if at >= self.stale_at(seen) else State.FRESH
