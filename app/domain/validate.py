"""Pure checks a snapshot passes before anything is stored, and the flags a stored quote may raise.

Rejected quotes are not stored (the poll log says why); flagged quotes are stored and the flag is kept
beside them: a suspicious move may be real, and silently dropping it would hide exactly the news.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from app.domain import currencies
from app.domain.collapse import Rejection
from app.domain.quotes import Quote
from app.domain.values import Value

MAX_DAYS_AHEAD = 2


@dataclass(frozen=True, slots=True)
class Flag:
    currency: str
    source: str
    kind: str  # jump | spread
    detail: str

    def __str__(self) -> str:
        return f"{self.currency} from {self.source}: {self.detail}"


def _problem(quote: Quote, today: date, expected_day: date | None) -> str | None:
    if not currencies.known(quote.currency):
        return "unknown currency"
    for number in {quote.value.value, quote.value.over}:
        if not number.is_finite() or number <= 0:
            return f"rate {number} is not a positive finite number"
    if quote.effective_date is not None:
        if quote.effective_date > today + timedelta(days=MAX_DAYS_AHEAD):
            return f"effective date {quote.effective_date} is more than {MAX_DAYS_AHEAD} days ahead"
        if expected_day is not None and quote.effective_date != expected_day:
            # NBT answers a day it lacks with another day's rates: storing them would date them wrongly.
            return f"feed answered with rates for {quote.effective_date} when asked for {expected_day}"
    return None


@dataclass(frozen=True, slots=True)
class Screening:
    """What a snapshot holds: rates in force to store as spans, rates announced for a later day, and the refused."""

    kept: list[Quote]
    announced: list[Quote]
    rejected: list[Rejection]


def screen(
    quotes: Iterable[Quote], *, today: date, expected_day: date | None = None, not_after: date | None = None
) -> Screening:
    """Sort a snapshot's quotes. A live poll passes `not_after` (the publisher's today): a rate for a later day
    (NBKR's daily.xml carries tomorrow's from the afternoon on) is announced, not in force, and is kept apart
    until then."""
    screening = Screening([], [], [])
    for quote in quotes:
        problem = _problem(quote, today, expected_day)
        if problem is not None:
            screening.rejected.append(Rejection(quote.currency, quote.source, problem))
        elif not_after is not None and quote.effective_date is not None and quote.effective_date > not_after:
            screening.announced.append(quote)
        else:
            screening.kept.append(quote)
    return screening


def rounding_pct(value: Decimal) -> Decimal:
    """Half a unit of the last published digit, as a percentage of the value: how far rounding alone moves it.

    The ticker prints UZS as 0.00008: anything from 0.000075 to 0.000085 reads the same, +-6.25 %.
    """
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return Decimal(50) * Decimal(1).scaleb(exponent) / value


def _pct_apart(a: Decimal, b: Decimal) -> Decimal:
    return abs(a - b) / b * 100


def jump_flag(quote: Quote, previous: Value | None, threshold_pct: Decimal) -> Flag | None:
    if previous is None:
        return None
    previous_in_base = previous.in_base
    moved = _pct_apart(quote.in_base, previous_in_base)
    if moved <= threshold_pct:
        return None
    return Flag(
        quote.currency,
        quote.source,
        "jump",
        f"moved {moved:.2f}% from its previous value {previous_in_base:.6g} (threshold {threshold_pct}%)",
    )


def spread_flags(quote: Quote, others: dict[str, Value], threshold_pct: Decimal) -> list[Flag]:
    """Disagreements with other sources' current values ({source: value})."""
    flags = []
    for source, other in sorted(others.items()):
        allowed = threshold_pct + rounding_pct(quote.value.value) + rounding_pct(other.value)
        other_in_base = other.in_base
        apart = _pct_apart(quote.in_base, other_in_base)
        if apart > allowed:
            detail = (
                f"differs {apart:.2f}% from {source} ({other_in_base:.6g} USD; allowed {allowed:.2f}% with rounding)"
            )
            flags.append(Flag(quote.currency, quote.source, "spread", detail))
    return flags
