"""HEAD on every resource that answers GET (RFC 9110 §9.3.2): the same status and headers, no body.

FastAPI registers a route for the methods it is declared with only, so HEAD was a 405 everywhere but where a
HEAD route was written by hand. Here a HEAD request is routed as the GET it stands for; the server (uvicorn)
sends no body for HEAD, and a streamed answer (a CSV download, the event stream) is ended at its first chunk,
so the work behind it stops instead of running to the end for nobody.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        # A copy: the server reads the method of its own scope to leave the body out.
        inner = dict(scope, method="GET")
        ended = False

        async def headers_only(message: Message) -> None:
            nonlocal ended
            if ended:
                return
            if message["type"] == "http.response.body":
                # The answer is complete for the server, which then tells the app its client is gone.
                message = {"type": "http.response.body", "body": b"", "more_body": False}
                ended = True
            await send(message)

        try:
            await self.app(inner, receive, headers_only)
        finally:
            if "route" in inner:  # for the metrics, which label by the matched route
                scope["route"] = inner["route"]
