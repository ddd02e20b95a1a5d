"""Response shapes, for the OpenAPI document at /docs (the bodies themselves are rendered by app.core.jsonenc)."""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

CrossMethod = Annotated[
    Literal["direct", "same_table", "via_usd", "usd"] | None,
    Field(
        description="In another base: how the rate was found. `direct`: a bank's own cross (one leg its home currency, "
        "the other's row quoted in it: NBKR's som per tenge); `same_table`: two rows of one bank's table of one day; "
        "`via_usd`: two legs crossed through the dollar; `usd`: one side is the dollar itself",
        examples=["direct"],
    ),
]


class Leg(BaseModel):
    source: str
    rate: float = Field(description="Units of this currency per one USD (the leg's own rate in base USD)")
    value: str = Field(
        description="The value as stored: what the source published (`478.77`), or for a currency a bank quotes in "
        "its own, its dollar row over the currency's row (`478.77/5.87`: tenge per USD over tenge per rouble)",
        examples=["478.77/5.87"],
    )
    effective_date: date | None = Field(description="The date a bank fixed it for (null: an intraday quote)")
    since: datetime
    last_seen: datetime
    stale: bool


class LatestRate(BaseModel):
    currency: str = Field(examples=["KGS"])
    pair: str = Field(
        examples=["USD/KGS"], description="Market notation: the base, then the currency (`USD/KZT`: tenge per dollar)"
    )
    rate: float = Field(
        description="Units of the currency per one USD (or one unit of the base), as every rates API answers: KZT "
        "497.51 for base USD. Exact when the source published this direction (a central bank's tenge per dollar), "
        "else one division at 15 significant digits; in another base, one division of the exact legs. 1 for the base "
        "itself"
    )
    inverse: float = Field(
        description="USD (or the base) per one unit of the currency: the other way round (the ticker's own 0.01144 "
        "for KGS in base USD, with every digit it printed)"
    )
    source: str | None = Field(
        examples=["ticker"], description="The source of the currency's rate (null for USD, and for the base itself)"
    )
    since: datetime | None = Field(
        description="When the current value's unbroken run began: its first sighting since a gap or a different "
        "value (null for the base itself)"
    )
    last_seen: datetime | None = Field(
        description="Its last sighting (at a past instant: the last at or before it); null for the base itself"
    )
    effective_date: date | None = Field(description="The date the source says the rate takes effect")
    previous_rate: float | None = Field(description="The rate before its last move: the last different value")
    change_pct: float | None = Field(
        description="(rate - previous_rate) / previous_rate * 100 of the rate as written here (units of the currency "
        "per one of the base), from the exact values, six decimals: positive when the currency weakened"
    )
    source_change_pct: float | None = Field(
        description="The change the source printed itself, in its own direction: the ticker's `-0.09%` is about its "
        "TJS/USD (USD per unit), the opposite of `rate`'s direction; null when the source prints none"
    )
    stale: bool = Field(description="True when the value is old by its source's rule (in another base: either leg)")
    method: CrossMethod = None
    legs: dict[str, Leg] | None = Field(
        None, description="In another base: each leg (the currency's and the base's) with its source and since"
    )


class LatestResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "base": "USD",
                "as_of": "2026-02-23T10:05:00Z",
                "rates": [
                    {
                        "currency": "KGS",
                        "pair": "USD/KGS",
                        "rate": 87.4125874125874,
                        "inverse": 0.01144,
                        "source": "ticker",
                        "since": "2026-02-23T08:00:00Z",
                        "last_seen": "2026-02-23T10:05:00Z",
                        "effective_date": None,
                        "previous_rate": 87.3362445414847,
                        "change_pct": 0.087413,
                        "source_change_pct": 0,
                        "stale": False,
                    }
                ],
            }
        }
    )

    base: str = Field("USD", description="The currency every rate is per one unit of (base=; USD by default)")
    as_of: datetime | None = Field(description="The newest last_seen among the rates")
    rates: list[LatestRate]
    attribution: list[str] | None = Field(
        None, description="Credits the sources' terms require; present only when such a source is shown"
    )


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class ErrorBody(BaseModel):
    detail: str = Field(examples=["parameter 'currency': unknown currency 'EUR'; valid codes: KGS, KZT, TJS, UZS, TMT"])


NOT_MODIFIED = {"description": "Not modified: the If-None-Match header matches the current ETag"}
# `source=` naming a source whose terms forbid serving its values (app.sources.registry.servable).
CROSS_CHECK_ONLY = {
    "model": ErrorBody,
    "description": "`source` names a cross-check only source: its terms forbid serving its values (the detail says "
    "why, and which setting declares a plan that allows it)",
}


class RatesAt(LatestResponse):
    at: datetime = Field(description="The instant asked for")


class DayLeg(BaseModel):
    source: str
    value: str = Field(description="The value as the source published it, every digit, in its own direction")
    effective_date: date | None = Field(description="The date the source fixed it for")
    carried_from: date | None = Field(description="The earlier date it was fixed for, when carried into this one")
    stale: bool
    announced: bool = Field(description="True when the value is the source's announcement for the date")


class DayRate(BaseModel):
    currency: str = Field(examples=["KZT"])
    pair: str = Field(examples=["USD/KZT"], description="Market notation: the base, then the currency")
    rate: float = Field(
        description="Units of the currency per one USD (or one unit of the base) for the date: exact when the source "
        "published this direction, else one division at 15 significant digits; 1 for the base itself"
    )
    inverse: float = Field(description="USD (or the base) per one unit of the currency: the other way round")
    source: str | None = Field(examples=["nbk"], description="The source of the rate (null for the base itself)")
    effective_date: date | None = Field(description="The date the source fixed the rate for")
    carried_from: date | None = Field(
        description="Set when the source fixed nothing for the date (a weekend, a holiday, a late table): the earlier "
        "date whose rate is carried into it"
    )
    stale: bool = Field(description="True when the rate is held past its source's rule (in another base: either leg)")
    announced: bool = Field(
        description="True when the bank published the rate before the date (a next-day rate) and no poll has seen it "
        "in force yet: the rate for the date as announced, never the rate in force before it (in another base: "
        "either leg)"
    )
    method: CrossMethod = None
    legs: dict[str, DayLeg] | None = Field(
        None, description="In another base: each leg (the currency's and the base's) as its source published it"
    )


class DayRates(BaseModel):
    date: dt.date = Field(description="The date asked for")
    base: str = Field("USD", description="The currency every rate is per one unit of (base=; USD by default)")
    rates: list[DayRate] = Field(description="A currency with nothing in force for the date is left out")
    attribution: list[str] | None = Field(
        None, description="Credits the sources' terms require; present only when such a source is shown"
    )


class DayOfRates(BaseModel):
    date: dt.date
    rates: list[DayRate] = Field(description="Empty when nothing was in force for the date")


class DailyRates(BaseModel):
    base: str = Field("USD", description="The currency every rate is per one unit of (base=; USD by default)")
    start: date
    end: date
    days: list[DayOfRates] = Field(description="Every date from start to end, in order")
    attribution: list[str] | None = Field(
        None, description="Credits the sources' terms require; present only when such a source is shown"
    )
