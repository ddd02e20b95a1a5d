"""The values the whole service speaks in: currency codes and quotes. Standard library only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from app.domain.values import Value


@dataclass(frozen=True, slots=True)
class Quote:
    """One published rate of one currency against the US dollar, as one source printed it.

    `value` is kept exactly as published (divided by the feed's nominal, which is a power of ten and so exact),
    with its direction: USD per one unit of `currency` (the ticker), or units of it per one USD (the banks; for a
    currency a bank quotes in its own, the ratio of its two rows, app.domain.values.Value.ratio).
    """

    currency: str
    source: str
    value: Value
    observed_at: datetime
    effective_date: date | None = None
    reported_change_pct: Decimal | None = None
    # When the source says it will publish next (a feed that announces it): the value is fresh until then.
    next_update: datetime | None = None

    @property
    def in_base(self) -> Decimal:
        """USD per one unit of the currency."""
        return self.value.in_base

    @property
    def per_base(self) -> Decimal:
        """Units of the currency per one USD."""
        return self.value.per_base
