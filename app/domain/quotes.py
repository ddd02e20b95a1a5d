"""The values the whole service speaks in: currency codes and quotes. Standard library only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from app.domain.values import invert

CURRENCY_NAMES: dict[str, str] = {
    "KGS": "Kyrgyz som",
    "KZT": "Kazakh tenge",
    "TJS": "Tajik somoni",
    "UZS": "Uzbek sum",
    "TMT": "Turkmen manat",
}
SUPPORTED_CURRENCIES: tuple[str, ...] = tuple(CURRENCY_NAMES)


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
