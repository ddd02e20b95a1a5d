"""A pure ASGI shortcut for `GET /rates/latest`, the endpoint dashboards poll all day.

FastAPI's routing, dependency resolution and response classes cost several times what the answer itself
costs. The answer is already rendered (app.read.latest), so a request whose exact query string the FastAPI
route has answered before, since the data last changed, is served straight from that cache: one dict
lookup, an ETag comparison, two ASGI messages. Anything else (first sight of a query, a bad parameter,
other paths) goes through FastAPI as usual, which validates it and fills the cache. The FastAPI route
stays the single definition of the endpoint, and of its documentation.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.etags import etag_matches
from app.api.security import HEADERS as SECURITY
from app.api.stream import EventStream, StreamHub
from app.api.version import V1
from app.read.latest import LatestService

# Each endpoint answers at its unversioned path and under /v1 alike (app.api.app).
PATHS = frozenset({"/rates/latest", V1 + "/rates/latest"})
STREAM_PATHS = frozenset({"/rates/stream", V1 + "/rates/stream"})
_JSON = (b"content-type", b"application/json")


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return bytes(value)
    return None


class LatestFastPath:
    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state  # the FastAPI app's state: the lifespan puts the LatestService there

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in PATHS and scope["method"] == "GET":
            service: LatestService | None = getattr(self.state, "latest", None)
            cached = service.answered(scope["query_string"]) if service is not None else None
            if cached is not None and service is not None:
                etag = cached.etag.encode()
                headers = [(b"etag", etag), (b"cache-control", b"public, max-age=%d" % service.max_age()), *SECURITY]
                condition = _header(scope, b"if-none-match")
                if condition is not None and (condition == etag or etag_matches(condition, etag)):
                    await send({"type": "http.response.start", "status": 304, "headers": headers})
                    await send({"type": "http.response.body", "body": b""})
                    return
                headers += [_JSON, (b"content-length", b"%d" % len(cached.body))]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": cached.body})
                return
        await self.app(scope, receive, send)


class StreamFastPath:
    """The same shortcut for `GET /rates/stream`: a query string the route has validated before opens its stream
    here. A stream lives for hours, and each layer it passes through keeps its frames and request state for as
    long: going around FastAPI's routing and the middleware saves about a third of a subscriber's memory."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state  # the lifespan puts the StreamHub there

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in STREAM_PATHS and scope["method"] == "GET":
            hub: StreamHub | None = getattr(self.state, "stream", None)
            key = hub.known(scope["query_string"]) if hub is not None else None
            if key is not None and hub is not None:
                last_event_id = _header(scope, b"last-event-id")
                stream = EventStream(hub, key, last_event_id.decode("latin-1") if last_event_id is not None else None)
                await stream(scope, receive, send)
                return
        await self.app(scope, receive, send)
