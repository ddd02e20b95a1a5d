"""HTTP request metrics as a pure ASGI middleware: a few dictionary lookups and two clock reads per request.

`BaseHTTPMiddleware` would wrap every request in a task and stream bodies through memory channels, a
cost several times that of the /rates/latest fast path itself. This wraps only `send`, to see the status.

Requests are labelled with the matched route's *template* (`/rates/{currency}/history`), never the raw path,
so the number of series stays fixed whatever clients ask for (FastAPI leaves the route in `scope["route"]`; a
router included under `/v1` keeps its own template there, so the prefix is put back: `/v1/rates/latest` and
`/rates/latest` are counted apart, which shows how far clients have moved to the versioned paths). The fast path
(app.api.fastpath) answers without routing, but only queries the FastAPI route has answered before: so a
path once matched by a route without parameters is remembered as its own label. Anything else is
`<unmatched>`.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.version import twins, versioned
from app.core.metrics import HTTP_REQUESTS, HTTP_SECONDS

UNMATCHED = "<unmatched>"
# When the request reached the app (time.perf_counter), in its scope: a wait it is promised (a turn at the
# database, app.api.dbaccess) counts from there, not from whenever its route began.
ARRIVED = "fx.arrived"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HTTPMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._static: set[str] = set()  # paths that are routes without parameters (seen matched)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _label(self, scope: Scope) -> str:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if isinstance(path, str):
            path = versioned(scope["path"], path)  # /v1/rates/latest is counted apart from /rates/latest
            if path not in self._static and path == scope["path"]:
                self._static.update(twins(path))  # the fast path may answer either form first
            return path
        return scope["path"] if scope["path"] in self._static else UNMATCHED

    def _bind(self, key: tuple[str, str, int]) -> tuple[Any, Any]:
        route, method, status = key
        children = (HTTP_REQUESTS.labels(route, method, str(status)), HTTP_SECONDS.labels(route))
        self._children[key] = children
        return children

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the application raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = scope[ARRIVED] = perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = perf_counter() - start
            method = scope["method"]
            key = (self._label(scope), method if method in _METHODS else "OTHER", status)
            counter, histogram = self._children.get(key) or self._bind(key)
            counter.inc()
            histogram.observe(elapsed)
