"""`/rates/export.csv`: rates as a CSV file, streamed from the database in constant memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlmodel import Session
from starlette.types import Send

from app.api.caching import cache_headers, not_modified, weak_etag
from app.api.dbaccess import DatabaseUnavailable, database, in_database, log_unavailable
from app.api.deps import LatestDep, SettingsDep
from app.api.params import (
    SourceQuery,
    TimeQuery,
    currency_list,
    default_source,
    history_window,
    source_name,
)
from app.api.schemas import ErrorBody
from app.core.clock import utcnow
from app.domain.buckets import Interval
from app.read.export import CsvExport, csv_chunks, filename
from app.read.query import data_version
from app.read.series import Series
from app.sources.registry import cadence

router = APIRouter(tags=["history"])

DEFAULT_RANGE = timedelta(days=30)
HistoryInterval = Literal["raw", "1h", "1d", "1w", "1mo"]
INTERVAL_HELP = (
    "`raw`: the stored spans; `1h`, `1d`, `1w` (from Monday), `1mo` (from the 1st): UTC buckets, one row per "
    "bucket that has a rate in force, its rate the bucket's close"
)
CSV_EXAMPLE = (
    "timestamp,until,currency,pair,rate,inverse,source\r\n"
    "2026-02-23T08:00:00Z,2026-02-23T10:05:00Z,KGS,KGS/USD,0.01144,87.4125874125874,ticker\r\n"
)
CSV_DESCRIPTION = (
    "CSV, UTF-8. Header `timestamp,currency,pair,rate,inverse,source`; for `raw` an `until` column follows "
    "`timestamp` (the span's start and its last sighting). Rates are the exact decimals."
)
CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}}
CSV_RESPONSE = {"description": CSV_DESCRIPTION, "content": CSV_CONTENT}
NOT_MODIFIED = {"description": "Not modified: the If-None-Match header matches the current ETag"}


class CsvStream(StreamingResponse):
    """A download that the database fails half-way through is cut off: the connection is closed without the last
    chunk, so the client sees an incomplete file rather than one that looks whole (the 200 has gone out: a 503 is
    no longer possible)."""

    def __init__(self, request: Request, content: AsyncIterator[bytes], headers: dict[str, str]) -> None:
        super().__init__(content, media_type="text/csv; charset=utf-8", headers=headers)
        self.request = request

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        except DatabaseUnavailable as exc:
            log_unavailable(self.request, exc, "download cut off")


def csv_response(
    request: Request, version: int, series: list[Series], start: datetime, end: datetime, interval: Interval | None
) -> Response:
    """The streamed file, or a 304: its weak ETag comes from the data version and the normalized query.

    Called in the request's database turn: the first page is read there, so a database in trouble at the start is
    still a 503; every later page is read in a turn of its own (app.read.export.CsvExport), while the client is sent
    the one before, and no connection is held while the client reads."""
    query = (tuple((s.currency, s.source) for s in series), start, end, interval)
    etag = weak_etag(version, query)
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    headers = cache_headers(request, etag)
    headers["Content-Disposition"] = f'attachment; filename="{filename(start, end)}"'
    export = CsvExport(request.app.state.engine, series, start, end, interval)
    first = export.step()
    db = database(request)
    # A download under way may wait for a turn as long as for an answer: cutting it off is worse than waiting.
    chunks = csv_chunks(export, first, lambda step: db.run(step, queue_timeout=db.timeout))
    return CsvStream(request, chunks, headers)


@router.get(
    "/rates/export.csv",
    summary="Rates as CSV, streamed: every currency (or some), raw spans or buckets",
    response_class=Response,
    responses={
        200: CSV_RESPONSE,
        304: NOT_MODIFIED,
        422: {"model": ErrorBody, "description": "A bad code, time, interval or source, or too many buckets"},
    },
)
@in_database
def export_csv(
    request: Request,
    session: Session,
    settings: SettingsDep,
    latest: LatestDep,
    currencies: Annotated[
        str | None, Query(description="Comma-separated codes (default: all), exported in configured order")
    ] = None,
    start: TimeQuery = None,
    end: TimeQuery = None,
    interval: Annotated[HistoryInterval, Query(description=INTERVAL_HELP)] = "raw",
    source: SourceQuery = None,
) -> Response:
    """Rows in the configured currency order, then oldest first. `start` defaults to 30 days before `end`
    (default: now). Currencies without data from the source are left out. A bucket interval is limited to
    10,000 buckets per currency; `raw` has no limit."""
    codes = currency_list(currencies, settings)
    asked = source_name(source, settings)
    since, until, bucketed = history_window(start, end, interval, DEFAULT_RANGE, utcnow())
    conn = session.connection()
    series = [
        Series(code, found, cadence(settings, found).hold)
        for code in codes
        if (found := asked or default_source(conn, latest, settings, code)) is not None
    ]
    version = data_version(session)
    session.close()  # the stream reads on its own connection: give this one back before it starts
    return csv_response(request, version, series, since, until, bucketed)
