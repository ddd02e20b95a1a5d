"""Security headers on every answer the API gives.

JSON and CSV are not to be sniffed as HTML, nor an API answer framed by another site. Pages that set their own
policy (the dashboard and the widget, app.api.routes.web) keep it: the widget exists to be framed. The fast
path for `/rates/latest` sends `HEADERS` itself, as static bytes, so its answers match the route's.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = (b"x-content-type-options", b"nosniff")
NO_FRAMING = (b"x-frame-options", b"DENY")
HEADERS = (NOSNIFF, NO_FRAMING)
_POLICY = b"content-security-policy"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {name.lower() for name, _ in headers}
                if NOSNIFF[0] not in names:
                    headers.append(NOSNIFF)
                if _POLICY not in names and NO_FRAMING[0] not in names:
                    headers.append(NO_FRAMING)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
