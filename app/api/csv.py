"""The CSV download, as /rates/export.csv and `format=csv` history answer it: streamed from the database page by
page, with a weak ETag, cut off rather than completed when the database fails half-way."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from starlette.types import Send

from app.api.caching import cache_headers, not_modified, weak_etag
from app.api.dbaccess import DatabaseUnavailable, database, log_unavailable
from app.api.problems import TOO_MANY_POINTS, Problem
from app.domain.values import plain_text
from app.read.export import CsvExport, csv_chunks, filename
from app.read.history import Pair, Window
from app.read.series import TooMuchWork

log = logging.getLogger(__name__)


def cell(value: object) -> str:
    """One CSV field of an answer built in memory: a decimal with every digit and no exponent (Decimal's own str()
    writes 0.00000025 as 2.5E-7), a flag as true/false, nothing as an empty field."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return plain_text(value)
    return str(value)


CSV_EXAMPLE = (
    "timestamp,until,currency,pair,rate,inverse,source\r\n"
    "2026-02-23T08:00:00Z,2026-02-23T10:05:00Z,KGS,USD/KGS,87.4125874125874,0.01144,ticker\r\n"
)
CSV_DESCRIPTION = (
    "CSV, UTF-8. Raw: `timestamp,until,currency,pair,rate,inverse,source` (the span's start and its last sighting); "
    "with an interval: `timestamp,currency,pair,rate,average,inverse,source` (the bucket's start in the asked zone, "
    "its close and its time-weighted average). `rate` is units of the currency per one USD (or one unit of the base), "
    "`pair` in market notation (`USD/KGS`), `inverse` the other way round. In another base a `base_source` column "
    "follows. Rates are the exact decimals, never written with an exponent."
)
CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}}
CSV_RESPONSE = {"description": CSV_DESCRIPTION, "content": CSV_CONTENT}


class CsvStream(StreamingResponse):
    """A download that fails half-way through (the database went away, or a later pair is too costly to cross) is
    cut off: the connection is closed without the last chunk, so the client sees an incomplete file rather than one
    that looks whole (the 200 has gone out: a 503 or 422 is no longer possible), and the log says why in one line."""

    def __init__(self, request: Request, content: AsyncIterator[bytes], headers: dict[str, str]) -> None:
        super().__init__(content, media_type="text/csv; charset=utf-8", headers=headers)
        self.request = request

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        except DatabaseUnavailable as exc:
            log_unavailable(self.request, exc, "download cut off")
        except TooMuchWork as exc:
            log.warning("%s %s: download cut off: %s", self.request.method, self.request.url.path, exc)
        finally:
            # Cancelled while a chunk was being sent (the client hung up), the chunks are left paused at a yield:
            # closed now, they stop the page read ahead at once rather than whenever they are collected.
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()
            # Its pages were made in worker threads, whose malloc arenas keep what they freed: hand it back.
            self.request.app.state.give_back.ask()


def csv_response(request: Request, version: int, pairs: list[Pair], window: Window, base: str) -> Response:
    """The streamed file of `pairs` (in units of `base`), or a 304: its weak ETag comes from the data version and
    the normalized query.

    Called in the request's database turn: the first page is read there, so a database in trouble at the start is
    still a 503; every later page is read in a turn of its own (app.read.export.CsvExport), while the client is sent
    the one before, and no connection is held while the client reads."""
    start, end, calendar = window.start, window.end, window.calendar
    legs = tuple(
        (p.currency, p.base_code, *(s.source if s else None for s in (p.quote_leg, p.base_leg))) for p in pairs
    )
    query = (base, legs, start, end, window.interval, str(calendar.zone) if calendar else None, window.unfinished)
    etag = weak_etag(version, query)
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    headers = cache_headers(request, etag)
    headers["Content-Disposition"] = f'attachment; filename="{filename(start, end)}"'
    export = CsvExport(request.app.state.engine, pairs, start, end, calendar, window.horizon, base)
    try:
        first = export.step()  # a later pair too costly to cross cuts the download short (CsvStream)
    except TooMuchWork as exc:
        raise Problem(TOO_MANY_POINTS, str(exc), "start", "end") from None
    db = database(request)
    # A download under way may wait for a turn as long as for an answer: cutting it off is worse than waiting.
    chunks = csv_chunks(export, first, lambda step: db.run(step, queue_timeout=db.timeout))
    return CsvStream(request, chunks, headers)
