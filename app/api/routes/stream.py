"""`/rates/stream`: the body of /rates/latest as Server-Sent Events, pushed when it changes (app.api.stream)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from app.api.params import CurrenciesQuery, LatestSourceQuery, currency_list, source_name
from app.api.schemas import CROSS_CHECK_ONLY, ErrorBody
from app.api.stream import RETRY_MS, EventStream, StreamHub
from app.core.jsonenc import DECIMALS_AS_TEXT
from app.core.settings import Settings

router = APIRouter(tags=["rates"])

EXAMPLE = (
    f"retry: {RETRY_MS}\n\n"
    "id: 42.5f0c1a9d3e\nevent: rates\n"
    'data: {"base":"USD","as_of":"2026-02-23T10:05:00Z","rates":[{"currency":"KGS","pair":"USD/KGS",...}]}\n\n'
    ": keep-alive\n\n"
)


@router.get(
    "/rates/stream",
    summary="The latest rates as Server-Sent Events: the /rates/latest body now, then each time it changes",
    response_class=EventStream,
    status_code=200,
    responses={
        403: CROSS_CHECK_ONLY,
        200: {
            "description": "`text/event-stream`: a `rates` event whose data is the /rates/latest body, then one "
            "more each time that body changes (never for an unchanged one), and a `: keep-alive` comment "
            "whenever nothing else was sent for FX_STREAM_HEARTBEAT seconds. `id` is the data version and a "
            "hash of the body; reconnecting with `Last-Event-ID` set to the current id sends no duplicate.",
            "content": {"text/event-stream": {"schema": {"type": "string"}, "example": EXAMPLE}},
        },
        422: {"model": ErrorBody, "description": "An unknown currency code or source"},
    },
)
async def rates_stream(
    request: Request,
    currencies: CurrenciesQuery = None,
    source: LatestSourceQuery = None,
    last_event_id: Annotated[
        str | None, Header(description="The id of the last event received, sent by a reconnecting browser")
    ] = None,
) -> Response:
    settings: Settings = request.app.state.settings
    hub: StreamHub = request.app.state.stream
    key = (tuple(currency_list(currencies, settings)), source_name(source, settings), DECIMALS_AS_TEXT.get())
    hub.remember(request.scope["query_string"], key)
    return EventStream(hub, key, last_event_id)
