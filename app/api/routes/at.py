"""`/rates/at/{when}`: every currency's rate in force at a past instant, in the shape of /rates/latest."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlmodel import Session

from app.api.caching import cached_json
from app.api.dbaccess import in_database
from app.api.deps import SettingsDep
from app.api.params import (
    TIME_EXAMPLE,
    TIME_PATTERN,
    BaseQuery,
    CurrenciesQuery,
    LatestSourceQuery,
    base_code,
    currency_list,
    required_time,
    source_name,
)
from app.api.problems import INVALID_PARAMETER, Problem
from app.api.schemas import CROSS_CHECK_ONLY, NOT_MODIFIED, ErrorBody, RatesAt
from app.core.clock import utcnow
from app.core.jsonenc import dumps, iso
from app.read.latest import rates_at
from app.read.query import data_version

router = APIRouter(tags=["rates"])

# An answer about an instant this far back changes only if history is loaded for it (and then its ETag changes):
# clients may keep it for a day. Nearer instants may still be confirmed by polls, as /rates/latest is.
SETTLED = timedelta(days=10)
LONG_CACHE = 86_400


@router.get(
    "/rates/at/{when}",
    response_model=RatesAt,
    summary="Every currency's rate in force at an instant (as /rates/latest would have answered then)",
    responses={
        403: CROSS_CHECK_ONLY,
        304: NOT_MODIFIED,
        422: {"model": ErrorBody, "description": "A bad or future time, code, source or base"},
    },
)
@in_database
def at(
    request: Request,
    session: Session,
    settings: SettingsDep,
    when: Annotated[
        str,
        Path(
            description=f"ISO 8601 ({TIME_EXAMPLE}); a bare date is 00:00 UTC",
            examples=["2026-02-23T10:00"],
            json_schema_extra={"pattern": TIME_PATTERN},
        ),
    ],
    currencies: CurrenciesQuery = None,
    source: LatestSourceQuery = None,
    base: BaseQuery = None,
) -> Response:
    """The value of each currency in force at `when`, by the one rule that /convert?at= and the change windows
    follow too: from the best source as of `when` (the first fresh one in order of preference, else one still in
    force, marked `stale`), or from `source`; a currency with nothing in force then is absent. As known at `when`:
    `since` is when the value's unbroken run began, `last_seen` its last sighting at or before `when` (the start of
    the last successful poll of its source then; `when` itself for history loaded without polls), and
    `effective_date` never later than `when`'s date in the source's own zone."""
    moment = required_time("when", when)
    now = utcnow()
    if moment > now:
        raise Problem(
            INVALID_PARAMETER, f"parameter 'when': {iso(moment)} is in the future; ask for a time up to now", "when"
        )
    base_name = base_code(base, settings)
    codes = tuple(currency_list(currencies, settings, base_name, itself=True))
    asked = source_name(source, settings)
    key = ("at", data_version(session), moment, codes, asked, base_name)
    response = cached_json(request, key, lambda: dumps(rates_at(session, settings, moment, codes, asked, base_name)))
    if moment < now - SETTLED and response.status_code in (200, 304):
        response.headers["Cache-Control"] = f"public, max-age={LONG_CACHE}"
    return response
