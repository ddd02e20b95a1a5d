"""The Turkmen manat's official peg: a declared rate, not a feed.

The Central Bank of Turkmenistan has fixed the manat at 3.50 per USD since 2015-01-01, and its own site is
often unreachable from abroad (403 to default user agents, 404 on Sundays). This source fetches nothing:
it states the declared rate for the day it is asked about.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from app.core.clock import utc
from app.domain.freshness import Publication
from app.domain.quotes import Quote
from app.domain.values import Value
from app.sources.base import ParseError, SourceSpec

NAME = "peg"
PEG_AUTHORITY = "Central Bank of Turkmenistan"
PEG_CURRENCY = "TMT"
PEG_RATE = Decimal("3.50")  # TMT per one USD, as declared
PEG_SINCE = date(2015, 1, 1)


def parse(body: bytes, observed_at: datetime) -> list[Quote]:
    """The declared rate, effective on observed_at's UTC day; the body is ignored."""
    del body  # nothing is fetched: the rate is a declaration
    day = utc(observed_at).date()
    if day < PEG_SINCE:
        raise ParseError(f"{NAME}: {day} is before the {PEG_RATE} {PEG_CURRENCY}/USD peg of {PEG_SINCE}")
    return [
        Quote(
            currency=PEG_CURRENCY,
            source=NAME,
            value=Value(PEG_RATE, per_usd=True),
            observed_at=observed_at,
            effective_date=day,
        )
    ]


SPEC = SourceSpec(
    name=NAME,
    title=f"Turkmen manat peg declared by the {PEG_AUTHORITY} ({PEG_RATE} TMT per USD since {PEG_SINCE})",
    default_url="",
    parse=parse,
    authoritative_for=(PEG_CURRENCY,),
    default_interval_seconds=1800,
    fetches=False,
    publication=Publication.DAILY,
)
