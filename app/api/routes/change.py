"""`/rates/{currency}/change` and `/rates/changes`: how much rates moved over a period or between two times."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from sqlalchemy import Connection
from sqlmodel import Session

from app.api.caching import json_response
from app.api.dbaccess import in_database
from app.api.deps import LatestDep, SettingsDep
from app.api.params import (
    Period,
    SourceQuery,
    TimeQuery,
    currency_code,
    currency_list,
    default_source,
    period_range,
    series_source,
    source_name,
)
from app.api.query_schemas import Change, Changes
from app.api.routes.export import NOT_MODIFIED
from app.api.routes.history import CurrencyPath
from app.api.schemas import ErrorBody
from app.core.clock import utcnow
from app.core.jsonenc import dumps, iso
from app.read.change import change_between
from app.read.series import stored_range

router = APIRouter(tags=["history"])

PeriodQuery = Annotated[
    Period | None,
    Query(description="How far back from `end` (default 24h; 1y is 365 days); not with `start`", examples=["7d"]),
]
SEMANTICS = """Each rate is the one known at that instant (the last value at or before it); when nothing is known
before `start`, the first value after it, and `start_at` says when. `change = end_rate - start_rate` and
`change_pct = change / start_rate * 100` (six decimals), on `rate` (USD per unit): a weakening currency shows a
negative change. `end` defaults to now."""


def _no_data(conn: Connection, currency: str, source: str, start: datetime, end: datetime) -> str:
    stored = stored_range(conn, currency, source)
    where = f"it has data from {iso(stored[0])} to {iso(stored[1])}" if stored else "it has none stored"
    return f"no {currency} data from {source} between {iso(start)} and {iso(end)}; {where}"


@router.get(
    "/rates/{currency}/change",
    response_model=Change,
    summary="How much a currency moved over a period (24h, 7d, 30d, 90d, 1y) or between two times",
    description=SEMANTICS,
    responses={
        304: NOT_MODIFIED,
        404: {"model": ErrorBody, "description": "An unknown currency, or no data in the range"},
        422: {"model": ErrorBody, "description": "A bad period, time or source; start after end"},
    },
)
@in_database
def change(
    request: Request,
    session: Session,
    settings: SettingsDep,
    latest: LatestDep,
    currency: CurrencyPath,
    period: PeriodQuery = None,
    start: TimeQuery = None,
    end: TimeQuery = None,
    source: SourceQuery = None,
) -> Response:
    code = currency_code(currency, settings)
    asked = source_name(source, settings)
    since, until = period_range(period, start, end, utcnow())
    conn = session.connection()
    found = series_source(conn, latest, settings, code, asked)
    moved = change_between(conn, code, found, since, until)
    if moved is None:
        raise HTTPException(404, _no_data(conn, code, found, since, until))
    return json_response(request, dumps(moved.as_json()))


@router.get(
    "/rates/changes",
    response_model=Changes,
    summary="How much every currency moved over a period or between two times",
    description=SEMANTICS + " A currency with no data in the range is left out.",
    responses={304: NOT_MODIFIED, 422: {"model": ErrorBody, "description": "A bad period, time, code or source"}},
)
@in_database
def changes(
    request: Request,
    session: Session,
    settings: SettingsDep,
    latest: LatestDep,
    period: PeriodQuery = None,
    start: TimeQuery = None,
    end: TimeQuery = None,
    source: SourceQuery = None,
    currencies: Annotated[
        str | None, Query(description="Comma-separated codes to include (default: all)", examples=["KZT,UZS"])
    ] = None,
) -> Response:
    codes = currency_list(currencies, settings)
    asked = source_name(source, settings)
    since, until = period_range(period, start, end, utcnow())
    conn = session.connection()
    found = []
    for code in codes:
        chosen = asked or default_source(conn, latest, settings, code)
        moved = change_between(conn, code, chosen, since, until) if chosen is not None else None
        if moved is not None:
            found.append(moved.as_json())
    named = None if start is not None and start.strip() else (period or "24h")
    return json_response(request, dumps({"period": named, "changes": found}))
