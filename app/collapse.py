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
from decimal import Decimal

from app.domain import Quote


@dataclass(frozen=True, slots=True)
class Rejection:
    currency: str
    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.currency} from {self.source}: {self.reason}"


def dedupe(quotes: Iterable[Quote]) -> tuple[list[Quote], list[Rejection]]:
    """One quote per (currency, source); a pair printed with two different values is rejected whole.

    Picking one of two conflicting values would be a guess, so neither is stored and the poll log says why.
    """
    groups: dict[tuple[str, str], list[Quote]] = {}
    for quote in quotes:
        groups.setdefault((quote.currency, quote.source), []).append(quote)
    kept: list[Quote] = []
    rejected: list[Rejection] = []
    for (currency, source), group in groups.items():
        values = list(dict.fromkeys((q.value, q.per_usd, q.effective_date) for q in group))
        if len(values) == 1:
            kept.append(group[0])
            continue
        shown = ", ".join(sorted({str(v[0]) for v in values}))
        rejected.append(Rejection(currency, source, f"conflicting values in one snapshot ({shown})"))
    return kept, rejected


@dataclass(frozen=True, slots=True)
class OpenSpan:
    """What the rules need to know of the latest stored span of a series."""

    value: Decimal
    per_usd: bool
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
    same_value = quote.value == open_span.value and quote.per_usd == open_span.per_usd
    if same_value and quote.observed_at - open_span.last_seen <= max_gap:
        return Action.EXTEND
    return Action.OPEN
