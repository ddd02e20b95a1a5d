"""Read-side queries over the spans. SQL picks the rows; Python shapes them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import CompoundSelect, bindparam, union_all
from sqlmodel import Session, col, select

from app.domain.quotes import inverse_of, rate_of
from app.domain.values import percent_change
from app.ingest.store import latest_spans
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


# Series per statement: SQLite allows at most 500 terms in a compound SELECT.
_SERIES_PER_STATEMENT = 200


def _previous_values(session: Session, spans: Sequence[RateSpan]) -> dict[tuple[str, str], Decimal]:
    """The last different value before each of `spans`: what a change percentage is measured from.

    A span that only follows a gap repeats its predecessor's value; comparing with it would hide the change.
    One statement: a UNION ALL of one index walk back from each span (`ORDER BY first_seen DESC LIMIT 1`).
    """
    found: dict[tuple[str, str], Decimal] = {}
    for at in range(0, len(spans), _SERIES_PER_STATEMENT):
        chunk = spans[at : at + _SERIES_PER_STATEMENT]
        params = {
            f"{key}{i}": value
            for i, span in enumerate(chunk)
            for key, value in (("c", span.currency), ("s", span.source), ("f", span.first_seen), ("v", span.value))
        }
        rows = session.execute(_previous_of(len(chunk)), params)
        found.update(((currency, source), Decimal(value)) for currency, source, value in rows)
    return found


@lru_cache(maxsize=32)
def _previous_of(count: int) -> CompoundSelect[tuple[str, str, str]]:
    """The statement of `_previous_values` for `count` spans (currency `c<i>`, source `s<i>`, first seen `f<i>`,
    value `v<i>`), built once and reused, so that SQLAlchemy compiles it once."""
    lookups = [
        select(RateSpan.currency, RateSpan.source, RateSpan.value)
        .where(
            RateSpan.currency == bindparam(f"c{i}"),
            RateSpan.source == bindparam(f"s{i}"),
            col(RateSpan.first_seen) < bindparam(f"f{i}"),
            RateSpan.value != bindparam(f"v{i}"),
        )
        .order_by(col(RateSpan.first_seen).desc())
        .limit(1)
        .subquery()
        for i in range(count)
    ]
    return union_all(*(select(one) for one in lookups))


def latest_of(session: Session, series: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Latest]:
    """The current value of each (currency, source) in `series` that has one, in two statements whatever the
    number of series or spans."""
    spans = latest_spans(session, series)
    previous = _previous_values(session, list(spans.values())) if spans else {}
    return {
        key: Latest(
            currency=span.currency,
            source=span.source,
            value=Decimal(span.value),
            per_usd=span.per_usd,
            first_seen=span.first_seen,
            last_seen=span.last_seen,
            effective_date=span.effective_date,
            reported_change_pct=Decimal(span.reported_change_pct) if span.reported_change_pct is not None else None,
            previous_value=previous.get(key),
        )
        for key, span in spans.items()
    }


def latest(session: Session, currency: str, source: str) -> Latest | None:
    return latest_of(session, [(currency, source)]).get((currency, source))
