"""`/rates/{currency}/change` and `/rates/changes`: how much rates moved over a period or between two times."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import Session

from app.api.caching import json_response
from app.api.dbaccess import in_database
from app.api.deps import LatestDep, SettingsDep
from app.api.params import (
    BaseQuery,
    CurrenciesQuery,
    CurrencyPath,
    Period,
    SourceQuery,
    TimeQuery,
    base_code,
    currency_code,
    currency_list,
    period_range,
    source_name,
)
from app.api.query_schemas import Change, Changes
from app.api.schemas import CROSS_CHECK_ONLY, NOT_MODIFIED, ErrorBody
from app.core.clock import utcnow
from app.core.jsonenc import dumps
from app.domain.values import USD
from app.read.change import change_between, change_of
from app.read.history import pair_for, pairs_for

router = APIRouter(tags=["history"])

PeriodQuery = Annotated[
    Period | None,
    Query(description="How far back from `end` (default 24h; 1y is 365 days); not with `start`", examples=["7d"]),
]
SEMANTICS = """Each rate is the one in force at that instant, by the rule of /rates/at (a value past its
source's hold is none), from the best source as of `end` unless `source` is named; when nothing is in force at
`start`, the window starts when a value first is, and `start_at` says when; when nothing is in force at `end`, it
ends at the last instant one was, and `end_at` says when. `change = end_rate - start_rate` and
`change_pct = change / start_rate * 100` (from the exact values, six decimals), on `rate` (units of the currency
per one USD, or one of the base): a weakening currency shows a positive change. In another base each rate is the
cross of the two legs known then, and the answer names each leg's source. `end` defaults to now."""


@router.get(
    "/rates/{currency}/change",
    response_model=Change,
    summary="How much a currency moved over a period (24h, 7d, 30d, 90d, 1y) or between two times",
    description=SEMANTICS,
    responses={
        403: CROSS_CHECK_ONLY,
        304: NOT_MODIFIED,
        404: {"model": ErrorBody, "description": "An unknown currency, or no data in the range"},
        422: {"model": ErrorBody, "description": "A bad period, time, base or source; start after end"},
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
    base: BaseQuery = None,
    source: SourceQuery = None,
) -> Response:
    asked = source_name(source, settings)
    base_name = base_code(base, settings)
    code = currency_code(currency, settings, base_name)
    since, until = period_range(period, start, end, utcnow())
    conn = session.connection()
    pair = pair_for(conn, latest, settings, code, base_name, asked, until)
    moved = change_of(conn, settings, pair, since, until)  # NoData (a 404 that says where the data is): none
    return json_response(request, dumps(moved.as_json()))


@router.get(
    "/rates/changes",
    response_model=Changes,
    summary="How much every currency moved over a period or between two times",
    description=SEMANTICS + " A currency with no data in the range is left out.",
    responses={
        304: NOT_MODIFIED,
        403: CROSS_CHECK_ONLY,
        422: {"model": ErrorBody, "description": "A bad period, time, code, base or source"},
    },
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
    base: BaseQuery = None,
    source: SourceQuery = None,
    currencies: CurrenciesQuery = None,
) -> Response:
    asked = source_name(source, settings)
    base_name = base_code(base, settings)
    codes = currency_list(currencies, settings, base_name)
    since, until = period_range(period, start, end, utcnow())
    conn = session.connection()
    found = []
    for pair in pairs_for(conn, latest, settings, codes, base_name, asked, until):  # no data at all: left out
        moved = change_between(conn, settings, pair, since, until)
        if moved is not None:  # no data in the range: left out too
            found.append(moved.as_json())
    named = None if start is not None and start.strip() else (period or "24h")
    head = {"period": named} if base_name == USD else {"period": named, "base": base_name}
    return json_response(request, dumps({**head, "changes": found}))
