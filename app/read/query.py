"""Read-side queries over the spans. SQL picks the rows; Python shapes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlmodel import Session, col, select

from app.domain.quotes import inverse_of, rate_of
from app.domain.values import percent_change
from app.ingest.store import open_span
from app.storage.models import DataVersion, RateSpan


@dataclass(frozen=True, slots=True)
class Latest:
    """The current value of one series, with the value it replaced."""

    currency: str
    source: str
    value: Decimal
    per_usd: bool
    first_seen: datetime
    last_seen: datetime
    effective_date: date | None
    reported_change_pct: Decimal | None
    previous_value: Decimal | None

    @property
    def rate(self) -> Decimal:
        return rate_of(self.value, self.per_usd)

    @property
    def inverse(self) -> Decimal:
        return inverse_of(self.value, self.per_usd)

    @property
    def previous_rate(self) -> Decimal | None:
        return None if self.previous_value is None else rate_of(self.previous_value, self.per_usd)

    @property
    def change_pct(self) -> Decimal | None:
        previous = self.previous_rate
        if previous is None:
            return None
        return percent_change(previous, self.rate)


def data_version(session: Session) -> int:
    row = session.get(DataVersion, 1)
    return row.version if row is not None else 0


def _previous_value(session: Session, span: RateSpan) -> Decimal | None:
    """The last different value before `span`: what a change percentage is measured from.

    A span that only follows a gap repeats its predecessor's value; comparing with it would hide the change.
    """
    statement = (
        select(RateSpan.value)
        .where(
            RateSpan.currency == span.currency,
            RateSpan.source == span.source,
            col(RateSpan.first_seen) < span.first_seen,
            RateSpan.value != span.value,
        )
        .order_by(col(RateSpan.first_seen).desc())
        .limit(1)
    )
    value = session.exec(statement).first()
    return Decimal(value) if value is not None else None


def latest(session: Session, currency: str, source: str) -> Latest | None:
    span = open_span(session, currency, source)
    if span is None:
        return None
    return Latest(
        currency=span.currency,
        source=span.source,
        value=Decimal(span.value),
        per_usd=span.per_usd,
        first_seen=span.first_seen,
        last_seen=span.last_seen,
        effective_date=span.effective_date,
        reported_change_pct=Decimal(span.reported_change_pct) if span.reported_change_pct is not None else None,
        previous_value=_previous_value(session, span),
    )
