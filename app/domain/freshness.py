"""How long a value holds: the one rule every endpoint asks "is this value in force, is it stale, at instant T?".

A source declares its cadence (app.sources.base.SourceSpec), which the settings may tune:

- intraday (the ticker, the aggregator): a value holds while polls keep confirming it. Unseen for longer than
  `max_gap` (three polls by default) it is stale, and it is no longer in force: history shows a gap there.
- daily (a central bank, the peg): an official rate holds until the next publication. It turns stale once its
  effective date is `stale_days` old (banks publish on working days only, so a long weekend is not stale), and it
  stays in force, stale, until `carry` after it was last seen (a week without publication: the longest holidays);
  after that history shows a gap and nothing is in force.

At any instant a stored value (a span: first_seen, last_seen, effective_date) is in exactly one state:
not yet published, fresh, stale (in force but old), or lapsed (no longer in force).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol


class Publication(enum.StrEnum):
    INTRADAY = "intraday"
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

    def held_until(self, seen: Seen) -> datetime:
        """The last instant the value is in force: after it, nothing is (a gap in history)."""
        return seen.last_seen + self.hold

    def stale_at(self, seen: Seen) -> datetime:
        """The first instant the value is stale (never later than the moment it stops being in force)."""
        if self.publication is Publication.DAILY and seen.effective_date is not None:
            expires = seen.effective_date + timedelta(days=self.stale_days + 1)
            return min(datetime.combine(expires, time.min, tzinfo=UTC), self.held_until(seen))
        return self.held_until(seen)

    def state(self, seen: Seen, at: datetime) -> State:
        """The value's state at `at`: the one answer to "in force?" and "stale?" everywhere."""
        if at < seen.first_seen:
            return State.NOT_YET
        if at > self.held_until(seen):
            return State.LAPSED
        return State.STALE if at >= self.stale_at(seen) else State.FRESH
