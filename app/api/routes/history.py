"""`/rates/{currency}/history` and `/rates/history`: the stored spans of a range, or buckets of the step function
they make (app.read.history), in USD or another base, in any time zone."""

from __future__ import annotations

from datetime import tzinfo
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Connection
from sqlmodel import Session

from app.api.caching import cached_json
from app.api.csv import CSV_CONTENT, CSV_DESCRIPTION, csv_response
from app.api.dbaccess import in_database
from app.api.deps import LatestDep, SettingsDep
from app.api.params import (
    CurrenciesQuery,
    CurrencyPath,
    RangeParams,
    currency_code,
    currency_list,
)
from app.api.problems import TOO_MANY_POINTS, Problem
from app.api.query_schemas import BucketHistory, MultiHistory, RawHistory
from app.api.schemas import CROSS_CHECK_ONLY, NOT_MODIFIED, ErrorBody
from app.core.jsonenc import dumps
from app.read.history import Pair, Window, answer_key, document, documents, pair_for, pairs_for
from app.read.query import data_version
from app.read.series import TooMuchWork

router = APIRouter(tags=["history"])


def _body(conn: Connection, pair: Pair, window: Window, zone: tzinfo) -> bytes:
    try:
        return dumps(document(conn, pair, window.start, window.end, window.calendar, zone, window.horizon))
    except TooMuchWork as exc:
        raise Problem(TOO_MANY_POINTS, str(exc), "start", "end") from None


@router.get(
    "/rates/{currency}/history",
    response_model=RawHistory | BucketHistory,
    summary="A currency's rates over a range: the stored spans, or hourly/daily/weekly/monthly OHLC buckets",
    responses={
        403: CROSS_CHECK_ONLY,
        200: {
            "description": "JSON (RawHistory for `interval=raw`, BucketHistory otherwise); with `format=csv`, "
            + CSV_DESCRIPTION,
            "content": CSV_CONTENT,
        },
        304: NOT_MODIFIED,
        404: {"model": ErrorBody, "description": "An unknown currency, or one with no data yet"},
        422: {
            "model": ErrorBody,
            "description": "A bad time, interval, base, zone or source; start after end; too many points",
        },
    },
)
@in_database
def history(
    request: Request,
    session: Session,
    settings: SettingsDep,
    latest: LatestDep,
    currency: CurrencyPath,
    query: RangeParams,
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
    base_name = query.base_code(settings)
    code = currency_code(currency, settings, base_name)
    ask = query.resolve(settings, base_name)
    window, zone = ask.window, ask.zone
    conn = session.connection()
    pair = pair_for(conn, latest, settings, code, base_name, ask.source, ask.as_of)
    version = data_version(session)
    if format_ == "csv":
        session.close()  # the stream reads on its own connection: give this one back before it starts
        return csv_response(request, version, [pair], window, base_name)
    key = ("history", version, *answer_key(conn, pair, window, zone))
    return cached_json(request, key, lambda: _body(conn, pair, window, zone))


@router.get(
    "/rates/history",
    response_model=MultiHistory,
    summary="Several currencies' rates over a range in one answer: each series exactly as /rates/{currency}/history",
    responses={
        403: CROSS_CHECK_ONLY,
        304: NOT_MODIFIED,
        422: {"model": ErrorBody, "description": "A bad code, base, zone, time or interval; too many points in all"},
    },
)
@in_database
def histories(
    request: Request,
    session: Session,
    settings: SettingsDep,
    latest: LatestDep,
    query: RangeParams,
    currencies: CurrenciesQuery = None,
) -> Response:
    """`{"interval", "base", "series": [{"currency", "source", "points"}]}`: every currency asked for (all by
    default, in answer order: USD first in another base), each series what /rates/{currency}/history gives for
    it. A currency with no data from any source yet is left out (all of them, when the base has none). The limits
    (10,000 buckets, or raw spans) apply to the answer as a whole."""
    base_name = query.base_code(settings)
    codes = currency_list(currencies, settings, base_name)
    ask = query.resolve(settings, base_name, series=len(codes))
    window, zone = ask.window, ask.zone
    conn = session.connection()
    pairs = pairs_for(conn, latest, settings, codes, base_name, ask.source, ask.as_of)  # no data: left out
    version = data_version(session)
    # The head (interval, base, zone) is keyed too: with no pair at all, it is the whole answer.
    head = ("histories", version, window.interval, base_name, str(zone))
    key = (*head, *(part for pair in pairs for part in answer_key(conn, pair, window, zone)))
    return cached_json(request, key, lambda: _bodies(conn, pairs, window, zone, base_name))


def _bodies(conn: Connection, pairs: list[Pair], window: Window, zone: tzinfo, base: str) -> bytes:
    try:
        return dumps(documents(conn, pairs, window, zone, base))
    except TooMuchWork as exc:
        raise Problem(TOO_MANY_POINTS, str(exc), "start", "end") from None
