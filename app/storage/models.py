"""The tables: rate spans (the time series), their hourly and daily rollups and those of every pair of series of one
source (their cross), the poll log, and the change marker."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.domain.values import Value
from app.storage.engine import UTCDateTime


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
    # The next update the source announced when it last published this value (ExchangeRate-API's
    # time_next_update_utc): the value is fresh until then (app.domain.freshness). None: no announcement.
    next_update: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))

    @property
    def published(self) -> Value:
        """The value as the domain speaks of it: what was published, and its direction."""
        return Value.parse(self.value, self.per_usd)

    @property
    def in_base(self) -> Decimal:
        return self.published.in_base


class RateAnnouncement(SQLModel, table=True):
    """A bank's rate published before the date it takes effect (NBKR's next-day rate).

    Kept apart from the spans, so that no read of the rate in force can see it early: only the rate for a date
    (app.read.daily) answers with it, marked as announced, while no span states that date.
    """

    __tablename__ = "rate_announcement"

    currency: str = Field(sa_type=String(3), primary_key=True)
    source: str = Field(sa_type=String(16), primary_key=True)
    effective_date: date = Field(primary_key=True)
    value: str = Field(sa_type=String(40))  # as published, in the direction `per_usd` says (as RateSpan)
    per_usd: bool
    first_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    @property
    def published(self) -> Value:
        return Value.parse(self.value, self.per_usd)


class RollupSums(SQLModel):
    """What a row of either rollup sums up of the spans of one series that begin within its stretch of time.

    Values are kept as published, with their direction; `area` and `inverse_area` are the time-weighted sums
    (exact rate x microseconds) of every span but the last, each until the next began, over `covered`
    microseconds; `inner_gap` is the longest a span went unseen before the next began.
    """

    spans: int
    first_seen: datetime = Field(sa_type=UTCDateTime())
    first_value: str = Field(sa_type=String(40))
    first_per_usd: bool
    low_value: str = Field(sa_type=String(40))
    low_per_usd: bool
    high_value: str = Field(sa_type=String(40))
    high_per_usd: bool
    last_start: datetime = Field(sa_type=UTCDateTime())
    last_value: str = Field(sa_type=String(40))
    last_per_usd: bool
    last_seen: datetime = Field(sa_type=UTCDateTime())
    area: str = Field(sa_type=String(80))
    inverse_area: str = Field(sa_type=String(80))
    covered: int = Field(sa_type=BigInteger)
    inner_gap: int = Field(sa_type=BigInteger)


class RateRollup(RollupSums, table=True):
    """The spans of one series that begin within one UTC hour, summed up; derived from rate_span
    (app.ingest.rollup) and kept current by every write, so bucket queries read hours, not spans.

    Whole hours combine into days, weeks and months of any zone whose offset is whole hours (others read the
    spans of the hours a bucket boundary cuts).
    """

    __tablename__ = "rate_rollup"

    currency: str = Field(sa_type=String(3), primary_key=True)
    source: str = Field(sa_type=String(16), primary_key=True)
    hour: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))


class RateRollupDay(RollupSums, table=True):
    """The spans of one series that begin within the 24 hours from `start`, a whole UTC hour, summed up as a
    RateRollup row is; one row for every hour that starts 24 hours holding a span (app.ingest.rollup).

    A day of a zone whose offset is whole hours starts on a UTC hour, so a year of daily buckets in any such zone
    reads one row a day; weeks and months read one per whole day. `inner_gap` also counts the gaps between the
    hours joined.
    """

    __tablename__ = "rate_rollup_day"
    __table_args__ = (Index("ix_rate_rollup_day_series_hour_start", "currency", "source", "hour_of_day", "start"),)

    currency: str = Field(sa_type=String(3), primary_key=True)
    source: str = Field(sa_type=String(16), primary_key=True)
    start: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    # The UTC hour of `start`: the days of a zone all start at one hour (in one era of its offset), so a year of
    # them is one range of the index on it, not a range 24 times longer, sifted.
    hour_of_day: int


class PairSums(SQLModel):
    """What a row of either pair rollup sums up of the cross of two series of one source (`currency` in units of
    `base`, app.ingest.pairs): its pieces, each begun when either leg began a span, as RollupSums sums spans.

    A level is the two legs' published values, written as app.ingest.pairs.level_text does ('0.01144 0 470.5 1':
    each value and whether it is per USD), so a reader crosses them exactly as it would the spans. `inner_gap`
    also counts, for each piece, how long before it began one of its legs was last seen: a piece one of whose legs
    had lapsed when it began was never in force.
    """

    spans: int
    first_seen: datetime = Field(sa_type=UTCDateTime())
    first: str = Field(sa_type=String(90))
    low: str = Field(sa_type=String(90))
    high: str = Field(sa_type=String(90))
    last_start: datetime = Field(sa_type=UTCDateTime())
    last: str = Field(sa_type=String(90))
    last_seen: datetime = Field(sa_type=UTCDateTime())
    area: str = Field(sa_type=String(80))
    inverse_area: str = Field(sa_type=String(80))
    covered: int = Field(sa_type=BigInteger)
    inner_gap: int = Field(sa_type=BigInteger)


class RatePairRollup(PairSums, table=True):
    """The pieces of the cross `currency`/`base` of one source that begin within one UTC hour, summed up; derived
    from rate_span and kept current by every write, as RateRollup is, so that a year of a cross whose legs both
    change every minute reads rows, not a million spans crossed one by one."""

    __tablename__ = "rate_pair_rollup"

    currency: str = Field(sa_type=String(3), primary_key=True)
    base: str = Field(sa_type=String(3), primary_key=True)
    source: str = Field(sa_type=String(16), primary_key=True)
    hour: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))


class RatePairRollupDay(PairSums, table=True):
    """The pieces of the cross that begin within the 24 hours from `start`, summed up, as RateRollupDay is."""

    __tablename__ = "rate_pair_rollup_day"
    __table_args__ = (
        Index("ix_rate_pair_rollup_day_series_hour_start", "currency", "base", "source", "hour_of_day", "start"),
    )

    currency: str = Field(sa_type=String(3), primary_key=True)
    base: str = Field(sa_type=String(3), primary_key=True)
    source: str = Field(sa_type=String(16), primary_key=True)
    start: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    hour_of_day: int


class PollLog(SQLModel, table=True):
    """One row per source per poll (or ingest): what happened, in numbers and words."""

    __tablename__ = "poll_log"
    __table_args__ = (Index("ix_poll_log_source_started", "source", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(sa_type=String(16))
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    outcome: str = Field(sa_type=String(16))  # an app.domain.outcome.PollOutcome
    poller: str = Field(sa_type=String(80))  # host:pid of the process that polled, to see who holds the lock
    error: str | None = None
    entries_seen: int = 0
    spans_opened: int = 0
    spans_extended: int = 0
    rejections: str | None = None  # quotes refused before storing, and why
    flags: str | None = None  # stored quotes that look suspicious, and why


class QuoteFlag(SQLModel, table=True):
    """A stored quote that moved too far or disagreed with the other sources."""

    __tablename__ = "quote_flag"
    __table_args__ = (Index("ix_quote_flag_source_raised", "source", "raised_at"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(sa_type=String(16))
    currency: str = Field(sa_type=String(3))
    raised_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    kind: str = Field(sa_type=String(16))
    detail: str


class SourceState(SQLModel, table=True):
    """One row per source: what /sources and the metrics show, so that they read a row instead of counting.

    The poller keeps the failures in a row, the back-off and the next poll. The store keeps the rest, in the same
    transaction as the poll-log row or the spans it accounts for (app.ingest.store): the spans stored, the flags raised,
    and the latest attempt, success, failure and rejections as the poll log has them (by `started_at`).
    """

    __tablename__ = "source_state"

    source: str = Field(sa_type=String(16), primary_key=True)
    consecutive_failures: int = 0
    backoff_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    next_poll_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    spans_stored: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    flags_raised: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_success_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_error: str | None = Field(default=None, sa_type=Text)
    last_error_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_rejections: str | None = Field(default=None, sa_type=Text)
    last_rejections_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class FetchedDay(SQLModel, table=True):
    """A day a backfill has fetched for a source, so that a rerun skips it."""

    __tablename__ = "fetched_day"

    source: str = Field(sa_type=String(16), primary_key=True)
    day: date = Field(primary_key=True)
    outcome: str = Field(sa_type=String(16))


class DataVersion(SQLModel, table=True):
    """A single row whose counter every write bumps: API processes poll it to know when to reload."""

    __tablename__ = "data_version"

    id: int = Field(default=1, primary_key=True)
    version: int = 0
