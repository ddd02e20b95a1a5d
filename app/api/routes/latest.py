"""`/rates/latest`: the hot path. Served from the in-memory snapshot (app.read.latest), with ETag and 304."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.api.caching import etag_matches
from app.api.params import currency_list, source_name
from app.api.schemas import ErrorBody, LatestResponse
from app.read.latest import LatestService

router = APIRouter(tags=["rates"])


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
    codes = tuple(currency_list(currencies, service.settings))
    rendered = service.render(codes, source_name(source, service.settings), request.scope["query_string"])
    headers = {"ETag": rendered.etag, "Cache-Control": f"public, max-age={service.max_age()}"}
    if etag_matches(request.headers.get("if-none-match"), rendered.etag):
        return Response(status_code=304, headers=headers)
    return Response(rendered.body, media_type="application/json", headers=headers)
