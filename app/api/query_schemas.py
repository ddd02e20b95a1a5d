"""Response shapes of the query endpoints, for /docs (the bodies themselves are rendered by app.core.jsonenc).

Rates are JSON numbers written with every digit of the exact decimal; `float` here only names the JSON type.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RATE = "USD (or the base) per one unit of the currency"
INVERSE = "Units of the currency per one USD (or one unit of the base)"
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
                        "since": "2026-02-23T03:00:00Z",
                        "until": "2026-02-23T23:30:00Z",
                        "rate": 0.00201653,
                        "inverse": 495.9,
                        "observations": 42,
                        "effective_date": "2026-02-23",
                    }
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
    open: float | None = Field(description="The rate in force at t, or else the first value within the bucket")
    high: float | None = Field(description="The highest rate in force within the bucket")
    low: float | None = Field(description="The lowest rate in force within the bucket")
    close: float | None = Field(description="The last rate in force within the bucket")
    average: float | None = Field(
        description="The time-weighted mean of the rate over the part of the bucket that had one in force, at 15 "
        "significant digits"
    )


class BucketHistory(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "currency": "KGS",
                "source": "ticker",
                "interval": "1d",
                "points": [
                    {
                        "t": "2026-02-22T00:00:00Z",
                        "open": 0.01145,
                        "high": 0.01145,
                        "low": 0.01144,
                        "close": 0.01144,
                        "average": 0.0114475,
                    },
                    {
                        "t": "2026-02-23T00:00:00Z",
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
                "series": [
                    {
                        "currency": "USD",
                        "source": None,
                        "base_source": "nbk",
                        "points": [
                            {"t": "2026-02-23T00:00:00Z", "open": 495.9, "high": 495.9, "low": 495.9, "close": 495.9,
                             "average": 495.9},
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
                "start_at": "2026-02-22T10:00:00Z",
                "start_rate": 0.00201613,
                "end_at": "2026-02-23T10:00:00Z",
                "end_rate": 0.00201653,
                "change": 4e-7,
                "change_pct": 0.01984,
            }
        }
    )

    currency: str
    source: str | None = Field(description=SOURCE)
    base: str | None = Field(None, description=BASE)
    base_source: str | None = Field(None, description=BASE_SOURCE)
    start_at: datetime = Field(description="`start`, or when the first value came if nothing is known before it")
    start_rate: float = Field(description="The last value known at start_at (" + RATE + ")")
    end_at: datetime
    end_rate: float = Field(description="The last value known at end_at")
    change: float = Field(description="end_rate - start_rate: negative when the currency weakened")
    change_pct: float = Field(description="change / start_rate * 100, six decimals")


class Changes(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "period": "24h",
                "changes": [
                    {
                        "currency": "KGS",
                        "source": "ticker",
                        "start_at": "2026-02-22T10:05:00Z",
                        "start_rate": 0.01145,
                        "end_at": "2026-02-23T10:05:00Z",
                        "end_rate": 0.01144,
                        "change": -0.00001,
                        "change_pct": -0.087336,
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
    rate: float = Field(description="The " + RATE + " used")
    since: datetime = Field(description="When that value was first seen")
    last_seen: datetime
    stale: bool = Field(description="`at` is later than last_seen plus the source's allowed gap")


class Conversion(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "example": {
                "from": "KZT",
                "to": "UZS",
                "amount": 1000,
                "rate": 25.7020725534524,
                "result": 25702.0725534524,
                "at": "2026-02-23T10:00:00Z",
                "sources": {
                    "KZT": {
                        "source": "nbk",
                        "rate": 0.00201653,
                        "since": "2026-02-23T03:00:00Z",
                        "last_seen": "2026-02-23T09:30:00Z",
                        "stale": False,
                    },
                    "UZS": {
                        "source": "cbu",
                        "rate": 0.0000784559,
                        "since": "2026-02-23T04:00:00Z",
                        "last_seen": "2026-02-23T09:40:00Z",
                        "stale": False,
                    },
                },
            }
        },
    )

    from_: str = Field(alias="from")
    to: str
    amount: float
    rate: float = Field(description="Units of `to` per one unit of `from`, 15 significant digits")
    result: float = Field(description="amount * rate, from the exact values, 15 significant digits")
    at: datetime
    sources: dict[str, ConversionLeg] = Field(description="Per currency other than USD: the value used")


class CurrencyInfo(BaseModel):
    code: str = Field(examples=["KZT"])
    name: str = Field(examples=["Kazakh tenge"])
    authoritative_source: str | None = Field(description="The central bank's source", examples=["nbk"])
    sources: list[str] = Field(description="Enabled sources with stored data for it")
    first_date: date | None = Field(description="The UTC date of the first stored value (null: none yet)")
    last_date: date | None = Field(description="The UTC date it was last seen")


class Currencies(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "currencies": [
                    {
                        "code": "KZT",
                        "name": "Kazakh tenge",
                        "authoritative_source": "nbk",
                        "sources": ["nbk", "ticker"],
                        "first_date": "2025-01-01",
                        "last_date": "2026-02-23",
                    }
                ]
            }
        }
    )

    currencies: list[CurrencyInfo]
