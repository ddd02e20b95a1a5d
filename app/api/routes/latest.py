"""`/rates/latest`: the hot path. Served from the in-memory snapshot (app.read.latest), with ETag and 304."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse

from app.api.etags import etag_matches
from app.api.params import BaseQuery, CurrenciesQuery, LatestSourceQuery, base_code, currency_list, source_name
from app.api.schemas import CROSS_CHECK_ONLY, ErrorBody, LatestResponse
from app.read.latest import LatestService, etag_of
from app.read.query import Latest
from app.sources import ticker

router = APIRouter(tags=["rates"])


@router.get(
    "/rates/latest",
    response_model=LatestResponse,
    summary="The current rate of every currency per one USD (or one of another base), from the best source",
    description="`rate` is units of the currency per one unit of `base` (KZT 497.51 for base USD), as every rates "
    "API answers; `inverse` is the other way round. Each source's own digits are kept in whichever of the two it "
    "published. `currencies` may name the base itself, whose rate is 1.",
    responses={
        403: CROSS_CHECK_ONLY,
        304: {"description": "Not modified: the If-None-Match header matches the current ETag"},
        422: {"model": ErrorBody, "description": "An unknown currency code, source or base"},
    },
)
async def rates_latest(
    request: Request,
    currencies: CurrenciesQuery = None,
    source: LatestSourceQuery = None,
    base: BaseQuery = None,
) -> Response:
    # async and database-free on purpose: the body and ETag were rendered when the data last changed.
    service: LatestService = request.app.state.latest
    settings = service.settings
    base_name = base_code(base, settings)
    codes = tuple(currency_list(currencies, settings, base_name, itself=True))
    rendered = service.render(codes, source_name(source, settings), request.scope["query_string"], base_name)
    headers = {"ETag": rendered.etag, "Cache-Control": f"public, max-age={service.max_age()}"}
    if etag_matches(request.headers.get("if-none-match"), rendered.etag):
        return Response(status_code=304, headers=headers)
    return Response(rendered.body, media_type="application/json", headers=headers)


@router.get(
    "/rates/ticker.txt",
    summary="The latest rates in the ticker's own text form: `KGS/USD = 0.01144 0%`, one line per currency",
    description="What the ticker prints, in its own direction: USD per one unit of the currency (the `inverse` of "
    "/rates/latest), and the change of that figure.",
    response_class=PlainTextResponse,
    responses={
        403: CROSS_CHECK_ONLY,
        200: {
            "description": "text/plain: the rate rounded half-even to `decimals` places (never to zero: a smaller "
            "rate keeps its first significant digit) and the change of its last move in percent, two decimals",
            "content": {"text/plain": {"example": "KGS/USD = 0.01144 0%\nKZT/USD = 0.00202 0.25%\n"}},
        },
        304: {"description": "Not modified: the If-None-Match header matches the current ETag"},
        422: {
            "description": "An unknown currency code or source, or decimals out of range (JSON, as everywhere)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        },
    },
)
async def ticker_text(
    request: Request,
    currencies: CurrenciesQuery = None,
    source: LatestSourceQuery = None,
    decimals: Annotated[int, Query(ge=0, le=15, description="Places the rate is rounded to")] = 5,
) -> Response:
    service: LatestService = request.app.state.latest
    codes = tuple(currency_list(currencies, service.settings))
    quotes = service.quotes(codes, source_name(source, service.settings))
    # The change of the last move: ours when we saw it, else what the source printed (the ticker prints one).
    # In the ticker's own direction (USD per unit), whatever the source: that is what this text reproduces.
    lines = (ticker.entry(q.currency, q.in_base, _last_move(q), decimals) + "\n" for q, _ in quotes)
    text = "".join(lines)
    body = text.encode()
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={service.max_age()}"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return PlainTextResponse(body, headers=headers)


def _last_move(quote: Latest) -> Decimal | None:
    """The last move of `in_base`, the ticker's direction: ours when we saw it, else what the source printed."""
    moved = quote.in_base_change_pct
    return moved if moved is not None else quote.reported_change_pct
