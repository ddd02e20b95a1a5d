"""`/rates/{currency}/history`: the stored spans of a range, or OHLC buckets of the step function they make."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from sqlalchemy import Connection
from sqlmodel import Session

from app.api.caching import cached_json
from app.api.dbaccess import in_database
from app.api.deps import LatestDep, SettingsDep
from app.api.params import (
    SourceQuery,
    TimeQuery,
    currency_code,
    history_window,
    series_source,
    source_name,
)
from app.api.query_schemas import BucketHistory, RawHistory
from app.api.routes.export import (
    CSV_CONTENT,
    CSV_DESCRIPTION,
    DEFAULT_RANGE,
    INTERVAL_HELP,
    NOT_MODIFIED,
    HistoryInterval,
    csv_response,
)
from app.api.schemas import ErrorBody
from app.core.clock import utcnow
from app.core.jsonenc import dumps, iso
from app.core.numbers import plain
from app.domain.buckets import MAX_BUCKETS, Interval, ceil, floor
from app.read.query import data_version
from app.read.series import Series, raw_extent, series_buckets, spans_between
from app.sources.registry import cadence

router = APIRouter(tags=["history"])

# A raw JSON answer holds at most this many spans (a week of per-minute changes); a bigger range is asked for
# with an interval, or as CSV, which streams any number.
MAX_RAW_POINTS = MAX_BUCKETS

CurrencyPath = Annotated[str, Path(description="One of the configured codes (case-insensitive)", examples=["KZT"])]


def _raw_body(conn: Connection, series: Series, start: datetime, end: datetime) -> bytes:
    spans = spans_between(conn, series.currency, series.source, start, end, MAX_RAW_POINTS + 1)
    if len(spans) > MAX_RAW_POINTS:
        raise HTTPException(
            422,
            f"more than {MAX_RAW_POINTS:,} spans of {series.currency} from {series.source} between {iso(start)} "
            f"and {iso(end)}; narrow the range, ask for interval=1h (or 1d, 1w, 1mo), or for format=csv, "
            "which streams any number",
        )
    points = [
        {
            "since": span.first_seen,
            "until": span.last_seen,
            "rate": span.value.rate,
            "inverse": span.value.inverse,
            "observations": span.observations,
            "effective_date": span.effective_date,
        }
        for span in spans
    ]
    return dumps({"currency": series.currency, "source": series.source, "interval": "raw", "points": points})


def _plain(rate: Decimal | None) -> Decimal | None:
    """Bucket values are numbers, not published texts: one spelling (0.0115, not 0.01150) on every backend."""
    return plain(rate) if rate is not None else None


def _bucket_body(conn: Connection, series: Series, start: datetime, end: datetime, interval: Interval) -> bytes:
    points = [
        {
            "t": bucket.t,
            "open": _plain(bucket.open),
            "high": _plain(bucket.high),
            "low": _plain(bucket.low),
            "close": _plain(bucket.close.rate if bucket.close is not None else None),
        }
        for bucket in series_buckets(conn, series, start, end, interval)
    ]
    return dumps({"currency": series.currency, "source": series.source, "interval": interval, "points": points})


@router.get(
    "/rates/{currency}/history",
    response_model=RawHistory | BucketHistory,
    summary="A currency's rates over a range: the stored spans, or hourly/daily/weekly/monthly OHLC buckets",
    responses={
        200: {
            "description": "JSON (RawHistory for `interval=raw`, BucketHistory otherwise); with `format=csv`, "
            + CSV_DESCRIPTION,
            "content": CSV_CONTENT,
        },
        304: NOT_MODIFIED,
        404: {"model": ErrorBody, "description": "An unknown currency, or one with no data yet"},
        422: {"model": ErrorBody, "description": "A bad time, interval or source; start after end; too many points"},
    },
)
@in_database
def history(
    request: Request,
    session: Session,
    settings: SettingsDep,
    latest: LatestDep,
    currency: CurrencyPath,
    start: TimeQuery = None,
    end: TimeQuery = None,
    interval: Annotated[HistoryInterval, Query(description=INTERVAL_HELP)] = "raw",
    source: SourceQuery = None,
    format_: Annotated[
        Literal["json", "csv"], Query(alias="format", description="`csv`: the same as /rates/export.csv")
    ] = "json",
) -> Response:
    """`end` defaults to now, `start` to 30 days before `end`.

    `raw`: the stored spans that overlap [start, end], oldest first (at most 10,000; use an interval or
    `format=csv` for more). A bucket interval: one point per bucket start `t` in [start, end], each bucket
    covering [t, next t). The rate in force is carried forward from earlier spans, but not past a span's
    `until` plus the source's allowed gap: a bucket with nothing in force has nulls. At most 10,000 buckets.
    """
    code = currency_code(currency, settings)
    asked = source_name(source, settings)
    since, until, bucketed = history_window(start, end, interval, DEFAULT_RANGE, utcnow())
    conn = session.connection()
    found = series_source(conn, latest, settings, code, asked)
    series = Series(code, found, cadence(settings, found).hold)
    version = data_version(session)
    if format_ == "csv":
        session.close()  # the stream reads on its own connection: give this one back before it starts
        return csv_response(request, version, [series], since, until, bucketed)
    if bucketed is None:
        key = ("history", version, code, found, "raw", *raw_extent(conn, code, found, since, until))
        return cached_json(request, key, lambda: _raw_body(conn, series, since, until))
    # Whole buckets: the answer depends on the first and last bucket start only, so is shared more widely.
    key = ("history", version, code, found, bucketed, ceil(since, bucketed), floor(until, bucketed))
    return cached_json(request, key, lambda: _bucket_body(conn, series, since, until, bucketed))
