"""Pure rules that turn quotes into span changes: no I/O, no clock.

A snapshot (one fetch of one source) may repeat an entry many times: it becomes one quote. Across
snapshots, an unchanged rate seen again within the allowed gap extends the open span; anything else
opens a new one. Equality is exact (Decimal), never float.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

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
    """What the rules need to know of the latest stored span of a series."""

    value: Value
    last_seen: datetime
    effective_date: date | None


class Action(enum.Enum):
    EXTEND = "extend"
    OPEN = "open"
    IGNORE = "ignore"


def decide(quote: Quote, open_span: OpenSpan | None, max_gap: timedelta) -> Action:
    if open_span is None:
        return Action.OPEN
    if quote.observed_at <= open_span.last_seen:
        # The same snapshot applied again, or a late observation: the series already knows as much.
        return Action.IGNORE
    # The same value published the same way: 480 and 480.00 per USD, or 0.5 USD per unit and 2 per USD, are
    # the same rate, but a source that changed how it writes the value has published something new.
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
    IGNORE = "ignore"  # an existing span of the same value already covers the moment
    CONFLICT = "conflict"  # an existing span of another value covers the moment: left alone, reported
    EXTEND = "extend"  # continues the span before it
    PREPEND = "prepend"  # starts the span after it earlier
    BRIDGE = "bridge"  # fills the gap between two spans of the same value: they become one
    OPEN = "open"


def place(quote: Quote, around: Neighbours, max_gap: timedelta) -> Placement:
    """Where a historical observation (a backfilled day) goes. Unlike live polling, history may arrive
    in any order, so the observation may also join the span that follows it."""
    before, moment = around.before, quote.observed_at
    if before is not None and moment <= before.last_seen:
        return Placement.IGNORE if quote.value == before.value else Placement.CONFLICT
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
