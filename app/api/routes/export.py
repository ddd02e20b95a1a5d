"""`/rates/export.csv`: rates as a CSV file, streamed from the database in constant memory."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from app.api.csv import CSV_RESPONSE, csv_response
from app.api.dbaccess import in_database
from app.api.deps import LatestDep, SettingsDep
from app.api.params import (
    CurrenciesQuery,
    RangeParams,
    currency_list,
)
from app.api.schemas import CROSS_CHECK_ONLY, NOT_MODIFIED, ErrorBody
from app.read.history import pairs_for
from app.read.query import data_version

router = APIRouter(tags=["history"])


@router.get(
    "/rates/export.csv",
    summary="Rates as CSV, streamed: every currency (or some), raw spans or buckets",
    response_class=Response,
    responses={
        403: CROSS_CHECK_ONLY,
        200: CSV_RESPONSE,
        304: NOT_MODIFIED,
        422: {"model": ErrorBody, "description": "A bad code, base, zone, time, interval or source; too many buckets"},
    },
)
@in_database
def export_csv(
    request: Request,
    session: Session,
    settings: SettingsDep,
    latest: LatestDep,
    query: RangeParams,
    currencies: CurrenciesQuery = None,
) -> Response:
    """Rows in answer order (in another base, USD first, then the configured order), then oldest first. `start`
    defaults to 30 days before `end` (default: now). Currencies without data from the source are left out. A
    bucket interval is limited to 10,000 buckets per currency, and its rows are in the zone `tz`; `raw` has no
    limit, and its rows are in UTC."""
    base_name = query.base_code(settings)
    codes = currency_list(currencies, settings, base_name)
    ask = query.resolve(settings, base_name)
    conn = session.connection()
    pairs = pairs_for(conn, latest, settings, codes, base_name, ask.source, ask.as_of)  # no data: left out
    version = data_version(session)
    session.close()  # the stream reads on its own connection: give this one back before it starts
    return csv_response(request, version, pairs, ask.window, base_name)
