"""`/convert`: an amount from one currency to another through USD, on decimals, at any time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Connection
from sqlmodel import Session

from app.api.caching import json_response
from app.api.dbaccess import in_database
from app.api.deps import LatestDep, SettingsDep
from app.api.params import CODE_PATTERN, SourceQuery, TimeQuery, parse_time, source_name
from app.api.problems import INVALID_PARAMETER, NO_DATA, UNKNOWN_CURRENCY, Problem
from app.api.query_schemas import Conversion
from app.api.schemas import CROSS_CHECK_ONLY, NOT_MODIFIED, ErrorBody
from app.core.clock import utcnow
from app.core.jsonenc import dumps, iso
from app.core.numbers import plain
from app.core.settings import Settings
from app.domain.cross import AMOUNT_HELP, AMOUNT_PATTERN, CROSS_DIGITS, AmountError, cross, parse_amount
from app.domain.freshness import State
from app.domain.values import USD
from app.read.history import series_for
from app.read.inforce import Held, in_force
from app.read.latest import LatestService
from app.read.series import first_span_after, span_at

router = APIRouter(tags=["convert"])


_CODE: dict[str, Any] = {"json_schema_extra": {"pattern": CODE_PATTERN}}


def _code(name: str, raw: str, settings: Settings) -> str:
    code = raw.strip().upper()
    valid = [USD, *settings.currencies]
    if code not in valid:
        raise Problem(
            UNKNOWN_CURRENCY, f"parameter '{name}': unknown currency {raw!r}; valid codes: {', '.join(valid)}", name
        )
    return code


def _leg(
    conn: Connection, settings: Settings, latest: LatestService, code: str, asked: str | None, at: datetime | None
) -> Held:
    """The value `code` converts at: in force at `at` (app.read.inforce); without `at`, what /rates/latest serves."""
    moment = at or utcnow()
    held = in_force(conn, settings, code, moment, asked)
    if held is not None:
        return held
    source = series_for(conn, latest, settings, code, asked).source  # NoData: none from any source
    earlier = span_at(conn, code, source, moment)
    if at is None and earlier is not None:  # now: the last known value, flagged stale, as /rates/latest serves it
        return Held(code, source, earlier, State.STALE, moment, earlier.last_seen, earlier.effective_date)
    if earlier is not None:  # past its hold
        hint = f"its last value was seen at {iso(earlier.last_seen)}"
    else:
        later = first_span_after(conn, code, source, moment)
        hint = f"its first value is from {iso(later.first_seen)}" if later else "it has none stored"
    raise Problem(NO_DATA, f"no {code} rate from {source} in force at {iso(moment)}; {hint}")


def _leg_json(held: Held) -> dict[str, Any]:
    return {
        "source": held.source,
        "rate": held.value.per_base,  # units of the leg's currency per one USD
        "since": held.first_seen,
        "last_seen": held.last_seen,
        "stale": held.stale,
    }


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
    source_code, target_code = _code("from", from_, settings), _code("to", to, settings)
    try:
        value = parse_amount(amount)
    except AmountError as exc:
        raise Problem(INVALID_PARAMETER, f"parameter 'amount': {exc}", "amount") from None
    asked_at = parse_time("at", at)
    moment = asked_at or utcnow()
    asked = source_name(source, settings)
    conn = session.connection()
    legs: dict[str, dict[str, Any]] = {}
    spans: dict[str, Held] = {}
    for code in dict.fromkeys((source_code, target_code)):
        if code == USD:
            continue
        spans[code] = _leg(conn, settings, latest, code, asked, asked_at)
        legs[code] = _leg_json(spans[code])
    from_value = spans[source_code].value if source_code in spans else None
    to_value = spans[target_code].value if target_code in spans else None
    rate, result = cross(value, from_value, to_value)
    body = {
        "from": source_code,
        "to": target_code,
        "amount": plain(value),
        "rate": rate,
        "result": result,
        "at": moment,
        "sources": legs,
    }
    return json_response(request, dumps(body))
