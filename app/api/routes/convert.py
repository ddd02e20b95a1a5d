"""`/convert`: an amount from one currency to another through USD, on decimals, at any time."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import Session

from app.api.caching import json_response
from app.api.dbaccess import in_database
from app.api.deps import LatestDep, SettingsDep
from app.api.params import CODE_PATTERN, SourceQuery, TimeQuery, known_code, parse_time, source_name
from app.api.problems import INVALID_PARAMETER, Problem
from app.api.query_schemas import Conversion
from app.api.schemas import CROSS_CHECK_ONLY, NOT_MODIFIED, ErrorBody
from app.core.jsonenc import dumps
from app.domain.cross import AMOUNT_HELP, AMOUNT_PATTERN, CROSS_DIGITS, AmountError, parse_amount
from app.domain.values import USD
from app.read.convert import conversion

router = APIRouter(tags=["convert"])


_CODE: dict[str, Any] = {"json_schema_extra": {"pattern": CODE_PATTERN}}


@router.get(
    "/convert",
    response_model=Conversion,
    summary="Convert an amount between two currencies (or USD) through USD, at now or any past time",
    description=f"""`rate` is units of `to` per one unit of `from`; both it and `result` are a single division of
the exact published values, rounded half-even to {CROSS_DIGITS} significant digits. Each side takes the value in
force at `at` by the one rule of /rates/at: from the best source as of `at` (or `source`), fresh or stale but still
held; `sources` says which value each side used, `since` (the start of its unbroken run), `last_seen` (its last
sighting at or before `at`) and whether it was stale then. Without `at`, each side is what /rates/latest serves now
(the last known value, flagged stale even past its hold). `amount` must be a positive number no larger than
10^15.""",
    responses={
        403: CROSS_CHECK_ONLY,
        304: NOT_MODIFIED,
        404: {"model": ErrorBody, "description": "No rate in force at `at`"},
        422: {"model": ErrorBody, "description": "A bad code, amount, time or source"},
    },
)
@in_database
def convert(
    request: Request,
    session: Session,
    settings: SettingsDep,
    latest: LatestDep,
    from_: Annotated[str, Query(alias="from", description="A configured code or USD", examples=["KZT"], **_CODE)],
    to: Annotated[str, Query(description="A configured code or USD", examples=["UZS"], **_CODE)],
    amount: Annotated[
        str,
        Query(
            description=AMOUNT_HELP,
            examples=["1000"],
            json_schema_extra={"pattern": AMOUNT_PATTERN},
        ),
    ],
    at: TimeQuery = None,
    source: SourceQuery = None,
) -> Response:
    known = [USD, *settings.currencies]
    source_code, target_code = known_code("from", from_, known), known_code("to", to, known)
    try:
        value = parse_amount(amount)
    except AmountError as exc:
        raise Problem(INVALID_PARAMETER, f"parameter 'amount': {exc}", "amount") from None
    asked_at = parse_time("at", at)
    asked = source_name(source, settings)
    answer = conversion(session.connection(), settings, latest, (source_code, target_code), value, asked_at, asked)
    return json_response(request, dumps(answer))
