"""The cross of two series of spans as a series of its own: a piece whenever either leg begins a span, and the
text a piece's level is stored as. Pure: no I/O.

A piece holds both legs' values from the moment it began; `last_seen` is the earlier of the two legs' last
sightings, so a piece holds until then plus how long the source's values hold (app.domain.freshness), or until
the next piece begins. A piece one of whose legs had lapsed when it began (`last_seen` plus the hold before
`first_seen`) was never in force.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from app.domain.cross import Cross
from app.domain.steps import Span
from app.domain.values import Value


@dataclass(frozen=True, slots=True)
class Crossing:
    """One piece of a cross series: from when either leg began a span, with both legs' values then."""

    first_seen: datetime
    last_seen: datetime
    value: Cross


def crossings(quote: Sequence[Span], base: Sequence[Span]) -> Iterator[Crossing]:
    """The pieces of `quote` in units of `base` (spans of each, oldest first): one at each moment either begins a
    span, once both have begun one."""
    i = j = -1
    while i + 1 < len(quote) or j + 1 < len(base):
        next_quote = quote[i + 1].first_seen if i + 1 < len(quote) else None
        next_base = base[j + 1].first_seen if j + 1 < len(base) else None
        moment = min(t for t in (next_quote, next_base) if t is not None)
        i += next_quote == moment
        j += next_base == moment
        if i >= 0 and j >= 0:
            a, b = quote[i], base[j]
            yield Crossing(moment, min(a.last_seen, b.last_seen), Cross(a.value, b.value))


def level_text(level: Cross) -> str:
    """A cross level as stored: each leg's published value and whether it is per USD ('0.01144 0 470.5 1')."""
    quote, base = level.quote, level.base
    return f"{quote.text} {int(quote.per_usd)} {base.text} {int(base.per_usd)}"


def parse_level(text: str) -> Cross:
    """The level `level_text` wrote."""
    quote, quote_per_usd, base, base_per_usd = text.split(" ")
    return Cross(Value.parse(quote, quote_per_usd == "1"), Value.parse(base, base_per_usd == "1"))
