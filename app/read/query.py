"""Read-side queries over the spans. SQL picks the rows; Python shapes them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import CompoundSelect, bindparam, or_, union_all
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.domain.values import Value
from app.storage.models import DataVersion, RateSpan
from app.storage.spans import SERIES_PER_STATEMENT, latest_spans


@dataclass(frozen=True, slots=True)
class Latest:
    """The current value of one series, with the last value of another rate before it."""

    currency: str
    source: str
    value: Value
    first_seen: datetime
    last_seen: datetime
    effective_date: date | None
    reported_change_pct: Decimal | None
    previous: Value | None  # in its own direction: a source may have changed the direction it publishes
    next_update: datetime | None = None  # when the source announced it would publish next

    @property
    def in_base(self) -> Decimal:
        """USD per one unit (the ticker's direction)."""
        return self.value.in_base

    @property
    def per_base(self) -> Decimal:
        """Units of the currency per one USD: the API's `rate`."""
        return self.value.per_base

    @property
    def previous_per_base(self) -> Decimal | None:
        return None if self.previous is None else self.previous.per_base

    @property
    def per_base_change_pct(self) -> Decimal | None:
        """The move of `per_base` (the API's `change_pct`)."""
        return None if self.previous is None else self.value.per_base_change_pct(self.previous)

    @property
    def in_base_change_pct(self) -> Decimal | None:
        """The move of `in_base`, as the ticker would print it."""
        return None if self.previous is None else self.value.in_base_change_pct(self.previous)


def data_version(session: Session) -> int:
    row = session.get(DataVersion, 1)
    return row.version if row is not None else 0


def _previous_values(session: Session, spans: Sequence[RateSpan]) -> dict[tuple[str, str], Value]:
    """The last value of another rate before each of `spans`: what a change percentage is measured from.

    A span that only follows a gap repeats its predecessor's value; comparing with it would hide the change.
    One statement: a UNION ALL of one index walk back from each span (`ORDER BY first_seen DESC LIMIT 1`) to
    the last span published differently; in the rare case that is the same rate in the other direction (0.5
    USD per unit, then 2 units per USD), the walk goes on from there.
    """
    found: dict[tuple[str, str], Value] = {}
    todo = list(spans)
    while todo:
        again: list[RateSpan] = []
        for at in range(0, len(todo), SERIES_PER_STATEMENT):
            chunk = {(span.currency, span.source): span for span in todo[at : at + SERIES_PER_STATEMENT]}
            params = {
                f"{key}{i}": value
                for i, span in enumerate(chunk.values())
                for key, value in (
                    ("c", span.currency), ("s", span.source), ("f", span.first_seen), ("v", span.value),
                    ("p", span.per_usd),
                )
            }  # fmt: skip
            rows = session.execute(_previous_of(len(chunk)), params)
            for currency, source, value, per_usd, first_seen in rows:
                span = chunk[currency, source]
                earlier = Value.parse(value, per_usd)
                if earlier.same_rate(span.published):  # look further back, from that span
                    again.append(RateSpan(currency=currency, source=source, value=span.value, per_usd=span.per_usd,
                                          first_seen=first_seen, last_seen=first_seen))  # fmt: skip
                else:
                    found[currency, source] = earlier
        todo = again
    return found


@lru_cache(maxsize=32)
def _previous_of(count: int) -> CompoundSelect[Any]:
    """The statement of `_previous_values` for `count` spans (currency `c<i>`, source `s<i>`, first seen `f<i>`,
    value `v<i>`, direction `p<i>`), built once and reused, so that SQLAlchemy compiles it once."""
    lookups = [
        sa_select(
            col(RateSpan.currency),
            col(RateSpan.source),
            col(RateSpan.value),
            col(RateSpan.per_usd),
            col(RateSpan.first_seen),
        )
        .where(
            col(RateSpan.currency) == bindparam(f"c{i}"),
            col(RateSpan.source) == bindparam(f"s{i}"),
            col(RateSpan.first_seen) < bindparam(f"f{i}"),
            or_(col(RateSpan.value) != bindparam(f"v{i}"), col(RateSpan.per_usd) != bindparam(f"p{i}")),
        )
        .order_by(col(RateSpan.first_seen).desc())
        .limit(1)
        .subquery()
        for i in range(count)
    ]
    return union_all(*(select(one) for one in lookups))


def latest_of(
    session: Session, series: Sequence[tuple[str, str]], at: datetime | None = None
) -> dict[tuple[str, str], Latest]:
    """The current value (with `at`: the last begun at or before it) of each (currency, source) in `series` that
    has one, in two statements whatever the number of series or spans."""
    spans = latest_spans(session, series, at)
    previous = _previous_values(session, list(spans.values())) if spans else {}
    return {
        key: Latest(
            currency=span.currency,
            source=span.source,
            value=span.published,
            first_seen=span.first_seen,
            last_seen=span.last_seen,
            effective_date=span.effective_date,
            reported_change_pct=Decimal(span.reported_change_pct) if span.reported_change_pct is not None else None,
            previous=previous.get(key),
            next_update=span.next_update,
        )
        for key, span in spans.items()
    }


def latest(session: Session, currency: str, source: str) -> Latest | None:
    return latest_of(session, [(currency, source)]).get((currency, source))
