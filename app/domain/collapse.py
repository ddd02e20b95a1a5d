"""Pure rules that turn quotes into span changes: no I/O, no clock.

A snapshot (one fetch of one source) may repeat an entry many times: it becomes one quote. Across
snapshots, an unchanged rate seen again within the allowed gap extends the open span; anything else
opens a new one. An observation not later than the open span's last sighting (a saved page loaded late, a
backfilled day) is placed into the history where it belongs. Equality is exact (Decimal), never float.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from app.core.jsonenc import iso
from app.domain.quotes import Quote
from app.domain.values import Value


@dataclass(frozen=True, slots=True)
class Rejection:
    currency: str
    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.currency} from {self.source}: {self.reason}"


def dedupe(quotes: Iterable[Quote]) -> tuple[list[Quote], list[Rejection]]:
    """One quote per (currency, source, moment); a pair printed with two different values is rejected whole.

    Picking one of two conflicting values would be a guess, so neither is stored and the poll log says why.
    (A live snapshot has one moment; a history page has one per day.)
    """
    groups: dict[tuple[str, str, datetime], list[Quote]] = {}
    for quote in quotes:
        groups.setdefault((quote.currency, quote.source, quote.observed_at), []).append(quote)
    kept: list[Quote] = []
    rejected: list[Rejection] = []
    for (currency, source, _), group in groups.items():
        values = list(dict.fromkeys((q.value, q.effective_date) for q in group))
        if len(values) == 1:
            kept.append(group[0])
            continue
        shown = ", ".join(sorted({v[0].text for v in values}))
        rejected.append(Rejection(currency, source, f"conflicting values in one snapshot ({shown})"))
    return kept, rejected


@dataclass(frozen=True, slots=True)
class OpenSpan:
    """What the rules need to know of a stored span of a series (the latest, or a neighbour in its history)."""

    value: Value
    first_seen: datetime
    last_seen: datetime
    effective_date: date | None


class Action(enum.Enum):
    EXTEND = "extend"
    OPEN = "open"
    LATE = "late"  # not later than the open span's last sighting: `place` puts it where it belongs


def decide(quote: Quote, open_span: OpenSpan | None, max_gap: timedelta) -> Action:
    if open_span is None:
        return Action.OPEN
    if quote.observed_at <= open_span.last_seen:
        # The same snapshot applied again, or a late observation: it belongs in the series' history.
        return Action.LATE
    # The same value published the same way: the same number in the same direction (480 and 480.00 per USD
    # are; 0.5 USD per unit and 2 per USD are the same rate, but a source that changed its direction has
    # published something new).
    if quote.value == open_span.value and quote.observed_at - open_span.last_seen <= max_gap:
        return Action.EXTEND
    return Action.OPEN


@dataclass(frozen=True, slots=True)
class Neighbours:
    """The spans either side of a historical observation: the last one starting at or before it, the next after."""

    before: OpenSpan | None
    after_value: Value | None = None
    after_first_seen: datetime | None = None


class Placement(enum.Enum):
    IGNORE = "ignore"  # a sighting a span of the same value already holds: its first or its last
    WITHIN = "within"  # between the first and last sightings of a span of the same value: one more observation
    CONFLICT = "conflict"  # an existing span of another value covers the moment: left alone, reported
    EXTEND = "extend"  # continues the span before it
    PREPEND = "prepend"  # starts the span after it earlier
    BRIDGE = "bridge"  # fills the gap between two spans of the same value: they become one
    OPEN = "open"


def place(quote: Quote, around: Neighbours, max_gap: timedelta) -> Placement:
    """Where a historical observation (a backfilled day, a page older than the series' latest sighting) goes.
    Unlike live polling, history may arrive in any order, so the observation may also join the span that
    follows it."""
    before, moment = around.before, quote.observed_at
    if before is not None and moment <= before.last_seen:
        if quote.value != before.value:
            return Placement.CONFLICT
        # A span keeps only its first and last sightings. One at either end is already counted; one between
        # them is a sighting it has not counted yet, as it would have had the observations come in order.
        return Placement.IGNORE if moment in (before.first_seen, before.last_seen) else Placement.WITHIN
    joins_before = before is not None and quote.value == before.value and moment - before.last_seen <= max_gap
    joins_after = (
        around.after_first_seen is not None
        and quote.value == around.after_value
        and around.after_first_seen - moment <= max_gap
    )
    if joins_before and joins_after:
        return Placement.BRIDGE
    if joins_before:
        return Placement.EXTEND
    return Placement.PREPEND if joins_after else Placement.OPEN


def conflict(quote: Quote, covering: OpenSpan) -> Rejection:
    """Why an observation falling inside a stored span of another value is not stored: which of the two is
    right cannot be told, and where the stored run of the other value was broken is not known."""
    reason = (
        f"{quote.value.text} seen at {iso(quote.observed_at)} falls inside a stored span of {covering.value.text} "
        f"({iso(covering.first_seen)} to {iso(covering.last_seen)})"
    )
    return Rejection(quote.currency, quote.source, reason)
