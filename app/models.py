"""The tables: rate spans (the time series), the poll log, and the change marker."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.domain import inverse_of, rate_of


class RateSpan(SQLModel, table=True):
    """One run of an unchanged rate of one currency from one source.

    `value` is the decimal text as published (stored as text: SQLite's NUMERIC goes through float), in the
    direction the source publishes it (`per_usd`); `rate` and `inverse` derive both directions.
    """

    __tablename__ = "rate_span"
    __table_args__ = (
        UniqueConstraint("currency", "source", "first_seen", name="uq_rate_span_series_start"),
        Index("ix_rate_span_series_last_seen", "currency", "source", "last_seen"),
    )

    id: int | None = Field(default=None, primary_key=True)
    currency: str = Field(sa_type=String(3))
    source: str = Field(sa_type=String(16))
    value: str = Field(sa_type=String(40))
    per_usd: bool
    first_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    observations: int = 1
    effective_date: date | None = None
    reported_change_pct: str | None = Field(default=None, sa_type=String(40))

    @property
    def decimal_value(self) -> Decimal:
        return Decimal(self.value)

    @property
    def rate(self) -> Decimal:
        return rate_of(self.decimal_value, self.per_usd)

    @property
    def inverse(self) -> Decimal:
        return inverse_of(self.decimal_value, self.per_usd)


class PollLog(SQLModel, table=True):
    """One row per source per poll (or ingest): what happened, in numbers and words."""

    __tablename__ = "poll_log"
    __table_args__ = (Index("ix_poll_log_source_started", "source", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(sa_type=String(16))
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    outcome: str = Field(sa_type=String(16))  # ok | partial | error
    poller: str = Field(sa_type=String(80))  # host:pid of the process that polled, to see who holds the lock
    error: str | None = None
    entries_seen: int = 0
    spans_opened: int = 0
    spans_extended: int = 0


class DataVersion(SQLModel, table=True):
    """A single row whose counter every write bumps: API processes poll it to know when to reload."""

    __tablename__ = "data_version"

    id: int = Field(default=1, primary_key=True)
    version: int = 0
