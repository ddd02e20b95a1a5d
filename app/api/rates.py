"""`/rates/latest`: the hot path. Served from the in-memory snapshot (app.latest), with ETag and 304."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response

from app.api.caching import etag_matches
from app.api.schemas import ErrorBody, LatestResponse
from app.latest import LatestService

router = APIRouter(tags=["rates"])


def parse_codes(raw: str | None, valid: list[str]) -> tuple[str, ...]:
    """`kzt,UZS` -> ("KZT", "UZS") in configured order; an unknown code is a 422 that lists the valid ones."""
    if raw is None or not raw.strip():
        return ()
    codes = {part.strip().upper() for part in raw.split(",") if part.strip()}
    unknown = sorted(codes - set(valid))
    if unknown:
        raise HTTPException(
            422, f"unknown currency {', '.join(repr(c) for c in unknown)}; valid codes: {', '.join(valid)}"
        )
    return tuple(c for c in valid if c in codes)


def check_source(name: str | None, enabled: list[str]) -> str | None:
    """A `source=` parameter: one of the enabled sources, or a 422 that lists them."""
    if name is None or not name.strip():
        return None
    name = name.strip().lower()
    if name not in enabled:
        raise HTTPException(422, f"unknown or disabled source {name!r}; enabled sources: {', '.join(enabled)}")
    return name


@router.get(
    "/rates/latest",
    response_model=LatestResponse,
    summary="The current rate of every currency against USD, from the best source",
    responses={
        304: {"description": "Not modified: the If-None-Match header matches the current ETag"},
        422: {"model": ErrorBody, "description": "An unknown currency code"},
    },
)
async def rates_latest(
    request: Request,
    currencies: Annotated[
        str | None, Query(description="Comma-separated codes to include (default: all)", examples=["KZT,UZS"])
    ] = None,
    source: Annotated[
        str | None,
        Query(description="Take every rate from this source instead of the best one per currency", examples=["nbk"]),
    ] = None,
) -> Response:
    # async and database-free on purpose: the body and ETag were rendered when the data last changed.
    service: LatestService = request.app.state.latest
    codes = parse_codes(currencies, service.settings.currencies)
    rendered = service.render(codes, check_source(source, service.settings.sources), request.scope["query_string"])
    headers = {"ETag": rendered.etag, "Cache-Control": f"public, max-age={service.max_age()}"}
    if etag_matches(request.headers.get("if-none-match"), rendered.etag):
        return Response(status_code=304, headers=headers)
    return Response(rendered.body, media_type="application/json", headers=headers)
