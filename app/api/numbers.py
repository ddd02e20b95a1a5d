"""`numbers=string`: every decimal of a JSON answer written as a string of its digits.

A rate is served at up to 15 significant digits, exactly what a double keeps; but a JavaScript client that adds,
rounds or re-serialises it works in doubles and can lose the last digit, and a published value such as `474.00`
comes back as `474`. With `numbers=string` the digits arrive as text (`"474.00"`) for a decimal library to read.
Set once per request, before the fast paths; every body cached for a request is keyed by it
(app.core.jsonenc.numbers_key), so the two forms never mix. The OpenAPI document describes the default form (its
response schemas say `number`), so the option is documented in docs/api.md rather than listed on each operation.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.problems import INVALID_PARAMETER, response
from app.api.security import HEADERS as SECURITY
from app.core.jsonenc import DECIMALS_AS_TEXT

NAME = "numbers"
CHOICES = ("number", "string")


class NumbersOption:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw: bytes = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if b"numbers=" not in raw:
            await self.app(scope, receive, send)
            return
        asked = {
            value.strip().lower()
            for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
            if key == NAME
        }
        asked.discard("")
        if len(asked) > 1 or not asked <= set(CHOICES):
            detail = f"parameter '{NAME}': {', '.join(sorted(asked))!r} is not one of: {', '.join(CHOICES)}"
            answer = response(INVALID_PARAMETER, detail, [{"parameter": NAME, "detail": detail}])
            for name, value in SECURITY:  # outside SecurityHeaders, like the fast paths it sits in front of
                answer.headers[name.decode()] = value.decode()
            await answer(scope, receive, send)
            return
        token = DECIMALS_AS_TEXT.set(asked == {"string"})
        try:
            await self.app(scope, receive, send)
        finally:
            DECIMALS_AS_TEXT.reset(token)
