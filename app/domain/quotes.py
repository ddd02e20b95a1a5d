"""The values the whole service speaks in: currency codes and quotes. Standard library only."""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

CURRENCY_NAMES: dict[str, str] = {
    "KGS": "Kyrgyz som",
    "KZT": "Kazakh tenge",
    "TJS": "Tajik somoni",
    "UZS": "Uzbek sum",
    "TMT": "Turkmen manat",
}
SUPPORTED_CURRENCIES: tuple[str, ...] = tuple(CURRENCY_NAMES)

# A source publishes one direction exactly (the ticker prints USD per som, a central bank prints tenge per
# dollar); the other direction is a division and cannot be exact. It is computed at this many significant
# digits: more than any feed publishes, and few enough (<= 15) that a JSON reader's double keeps every digit.
DERIVED_DIGITS = 15
_DERIVED = decimal.Context(prec=DERIVED_DIGITS, rounding=decimal.ROUND_HALF_EVEN)


def invert(value: Decimal) -> Decimal:
    """1 / value at DERIVED_DIGITS significant digits, without trailing zeros."""
    return _DERIVED.divide(Decimal(1), value).normalize(_DERIVED)


_PERCENT_STEP = Decimal("0.000001")


def percent_change(start: Decimal, end: Decimal) -> Decimal:
    """(end - start) / start * 100, rounded half-even to six decimal places (finer than any feed moves)."""
    return ((end - start) / start * 100).quantize(_PERCENT_STEP).normalize() + 0


def utc(moment: datetime) -> datetime:
    """The same instant as an aware UTC datetime; a naive value is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Quote:
    """One published rate of one currency against the US dollar, as one source printed it.

    `value` is kept exactly as published (divided by the feed's nominal, which is a power of ten and so
    exact); `per_usd` says its direction: False when it is USD per one unit of `currency` (the ticker),
    True when it is units of `currency` per one USD (the central banks).
    """

    currency: str
    source: str
    value: Decimal
    per_usd: bool
    observed_at: datetime
    effective_date: date | None = None
    reported_change_pct: Decimal | None = None

    @property
    def rate(self) -> Decimal:
        """USD per one unit of the currency."""
        return rate_of(self.value, self.per_usd)

    @property
    def inverse(self) -> Decimal:
        """Units of the currency per one USD."""
        return inverse_of(self.value, self.per_usd)


def rate_of(value: Decimal, per_usd: bool) -> Decimal:
    """USD per unit for a stored value of the given direction."""
    return invert(value) if per_usd else value


def inverse_of(value: Decimal, per_usd: bool) -> Decimal:
    """Units per USD for a stored value of the given direction."""
    return value if per_usd else invert(value)
