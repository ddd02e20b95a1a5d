"""Response shapes of the query endpoints, for /docs (the bodies themselves are rendered by app.core.jsonenc).

Rates are JSON numbers written with every digit of the exact decimal; `float` here only names the JSON type.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RATE = "Units of the currency per one USD (or one unit of the base), as every rates API writes it"
INVERSE = "USD (or the base) per one unit of the currency: the other way round"
SOURCE = "The source of the currency's rates (null for USD itself)"
BASE = "With base=: the currency the rates are in (absent for USD)"
BASE_SOURCE = "With base=: the source of the base currency's rates"
TZ = "With tz=: the time zone the buckets (and every time) are in (absent for UTC)"


class RawPoint(BaseModel):
    since: datetime = Field(description="When the value was first seen (the span's start)")
    until: datetime = Field(description="When it was last seen")
    rate: float = Field(description=RATE)
    inverse: float = Field(description=INVERSE)
    observations: int | None = Field(None, description="How many polls saw it (absent in another base)")
    effective_date: date | None = Field(None, description="The date the source says the rate takes effect")


class RawHistory(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "currency": "KZT",
                "source": "nbk",
                "interval": "raw",
                "points": [
                    {
                        "since": "2026-04-01T03:05:00Z",
                        "until": "2026-04-01T18:35:00Z",
                        "rate": 478.77,
                        "inverse": 0.00208868559015811,
                        "observations": 32,
                        "effective_date": "2026-04-01",
                    },
                    {
                        "since": "2026-04-01T19:05:00Z",
                        "until": "2026-04-02T09:35:00Z",
                        "rate": 475.09,
                        "inverse": 0.00210486434149319,
                        "observations": 30,
                        "effective_date": "2026-04-02",
                    },
                ],
            }
        }
    )

    currency: str
    source: str | None = Field(description=SOURCE)
    base: str | None = Field(None, description=BASE)
    base_source: str | None = Field(None, description=BASE_SOURCE)
    interval: Literal["raw"]
    tz: str | None = Field(None, description=TZ)
    points: list[RawPoint] = Field(
        description="The stored spans that overlap the range, oldest first (in another base: the stretches of one "
        "cross rate, from the later of the legs' changes until either leg was last seen holding it)"
    )


class BucketPoint(BaseModel):
    t: datetime = Field(
        description="The bucket's start: local midnight of the asked zone (UTC by default), written with its offset; "
        "weeks start on Monday, months on the 1st"
    )
    open: float | None = Field(
        description="The rate (units of the currency per one of the base) in force at t, or else the first value "
        "within the bucket"
    )
    high: float | None = Field(description="The highest rate in force within the bucket")
    low: float | None = Field(description="The lowest rate in force within the bucket")
    close: float | None = Field(description="The last rate in force within the bucket")
    average: float | None = Field(
        description="The time-weighted mean of the rate (units of the currency per one of the base) over the part of "
        "the bucket that had one in force, at 15 significant digits"
    )


class BucketHistory(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "currency": "KGS",
                "source": "ticker",
                "interval": "1h",
                "points": [
                    {
                        "t": "2026-04-01T20:00:00Z",
                        "open": 87.4125874125874,
                        "high": 87.4125874125874,
                        "low": 87.4125874125874,
                        "close": 87.4125874125874,
                        "average": 87.4125874125874,
                    },
                    {
                        "t": "2026-04-01T21:00:00Z",
                        "open": None,
                        "high": None,
                        "low": None,
                        "close": None,
                        "average": None,
                    },
                ],
            }
        }
    )

    currency: str
    source: str | None = Field(description=SOURCE)
    base: str | None = Field(None, description=BASE)
    base_source: str | None = Field(None, description=BASE_SOURCE)
    interval: Literal["1h", "1d", "1w", "1mo"]
    tz: str | None = Field(None, description=TZ)
    points: list[BucketPoint] = Field(description="One per bucket start in [start, end]; nulls: nothing in force")


class SeriesHistory(BaseModel):
    currency: str
    source: str | None = Field(description=SOURCE)
    base_source: str | None = Field(None, description=BASE_SOURCE)
    points: list[RawPoint] | list[BucketPoint]


class MultiHistory(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "interval": "1d",
                "base": "KZT",
                "tz": "Asia/Almaty",
                "series": [
                    {
                        "currency": "USD",
                        "source": None,
                        "base_source": "nbk",
                        "points": [
                            {"t": "2026-04-02T00:00:00+05:00", "open": 0.00208868559015811,
                             "high": 0.00210486434149319, "low": 0.00208868559015811, "close": 0.00210486434149319,
                             "average": 0.00210480816527328},
                        ],
                    }
                ],
            }
        }
    )  # fmt: skip

    interval: Literal["raw", "1h", "1d", "1w", "1mo"]
    base: str
    tz: str | None = Field(None, description=TZ)
    series: list[SeriesHistory] = Field(description="Each currency asked for, as /rates/{currency}/history gives it")


class Change(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "currency": "KZT",
                "source": "nbk",
                "start_at": "2026-04-01T10:01:00Z",
                "start_rate": 478.77,
                "end_at": "2026-04-02T10:01:00Z",
                "end_rate": 475.09,
                "change": -3.68,
                "change_pct": -0.768636,
            }
        }
    )

    currency: str
    source: str | None = Field(description=SOURCE)
    base: str | None = Field(None, description=BASE)
    base_source: str | None = Field(None, description=BASE_SOURCE)
    start_at: datetime = Field(description="`start`, or when a value first came into force if none was in force then")
    start_rate: float = Field(description="The value in force at start_at, as /rates/at has it (" + RATE + ")")
    end_at: datetime = Field(description="`end`, or the last instant a value was in force if none was then")
    end_rate: float = Field(description="The value in force at end_at")
    change: float = Field(
        description="end_rate - start_rate: positive when the currency weakened against the base (more of it per one "
        "unit of the base)"
    )
    change_pct: float = Field(description="change / start_rate * 100, from the exact values, six decimals")


class Changes(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "period": "7d",
                "base": "KZT",
                "changes": [
                    {
                        "currency": "UZS",
                        "source": "cbu",
                        "base": "KZT",
                        "base_source": "nbk",
                        "start_at": "2026-04-01T03:10:00Z",
                        "start_rate": 25.469870710362,
                        "end_at": "2026-04-02T10:01:00Z",
                        "end_rate": 25.5574733208445,
                        "change": 0.0876026104825,
                        "change_pct": 0.343946,
                    }
                ],
            }
        }
    )

    period: str | None = Field(description="The period asked for; null when start/end were given")
    base: str | None = Field(None, description=BASE)
    changes: list[Change] = Field(description="One per currency with data in the range, in configured order")


class ConversionLeg(BaseModel):
    source: str
    rate: float = Field(description="The value used: units of this currency per one USD")
    since: datetime = Field(description="When that value's current unbroken run began")
    last_seen: datetime = Field(
        description="Its last sighting at or before `at` (the start of the last successful poll of its source then)"
    )
    stale: bool = Field(description="The value was not fresh at `at` by its source's freshness rule")


class Conversion(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "example": {
                "from": "USD",
                "to": "KGS",
                "amount": 250,
                "rate": 87.3362445414847,
                "result": 21834.0611353712,
                "at": "2026-04-01T06:10:00Z",
                "sources": {
                    "KGS": {
                        "source": "ticker",
                        "rate": 87.3362445414847,
                        "since": "2026-04-01T00:00:00Z",
                        "last_seen": "2026-04-01T06:00:00Z",
                        "stale": False,
                    },
                },
            }
        },
    )

    from_: str = Field(alias="from")
    to: str
    amount: float
    rate: float = Field(description="Units of `to` per one unit of `from` (`from` is the base), 15 significant digits")
    result: float = Field(description="amount * rate, from the exact values, 15 significant digits")
    at: datetime
    sources: dict[str, ConversionLeg] = Field(description="Per currency other than USD: the value used")


class QuotedBy(BaseModel):
    source: str = Field(examples=["nbk"])
    quoted_in: str = Field(
        description="The currency the source publishes it in: USD, or a bank's own currency (NBK: RUB in KZT; "
        "its value against USD then comes through the same table's dollar row)",
        examples=["KZT"],
    )
    first_date: date = Field(description="The UTC date of the source's first stored value of it")
    last_date: date = Field(description="The UTC date the source last published it")


class CurrencyInfo(BaseModel):
    code: str = Field(examples=["RUB"])
    name: str = Field(description="Its English name (CLDR, via babel)", examples=["Russian Ruble"])
    minor_digits: int = Field(description="Decimal places of its minor unit (ISO 4217)", examples=[2])
    authoritative_source: str | None = Field(description="The central bank's source", examples=["nbk"])
    sources: list[str] = Field(description="Enabled sources with stored data for it")
    quoted_by: list[QuotedBy] = Field(description="Each of those sources: in what it quotes it, since when")
    first_date: date | None = Field(description="The UTC date of the first stored value (null: none yet)")
    last_date: date | None = Field(description="The UTC date it was last seen")


class Currencies(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "currencies": [
                    {
                        "code": "KZT",
                        "name": "Kazakhstani Tenge",
                        "minor_digits": 2,
                        "authoritative_source": "nbk",
                        "sources": ["nbk", "ticker"],
                        "quoted_by": [
                            {
                                "source": "nbk",
                                "quoted_in": "USD",
                                "first_date": "2025-01-01",
                                "last_date": "2026-02-23",
                            },
                            {
                                "source": "ticker",
                                "quoted_in": "USD",
                                "first_date": "2025-03-01",
                                "last_date": "2026-02-23",
                            },
                        ],
                        "first_date": "2025-01-01",
                        "last_date": "2026-02-23",
                    }
                ]
            }
        }
    )

    currencies: list[CurrencyInfo]
