"""Every error the API gives is a problem document (app.api.problems), a bug included.

A bug is still a JSON answer with the security headers, and the connection stays usable: Starlette's own last
resort answers `text/plain` outside every middleware and re-raises, so the server closes the keep-alive
connection as well. `Unexpected` catches first, logs the traceback once and answers like any other error.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api import problems
from app.api.security import HEADERS as SECURITY
from app.read.history import NoData

log = logging.getLogger(__name__)

INTERNAL_DETAIL = "internal error: the server could not answer this request; it is logged, and a retry may not help"


async def _no_data(_request: Request, exc: Exception) -> Response:
    return problems.response(problems.NO_DATA, str(exc))


def install(app: FastAPI) -> None:
    problems.install(app)  # bad parameters, unknown paths and methods, and every HTTPException raised
    app.add_exception_handler(NoData, _no_data)  # a currency with no data yet: 404 that says which


class Unexpected:
    """The last resort: an exception no handler took becomes a problem document (500) with the security headers, and the
    traceback goes to the log. Once an answer has begun (a download half-sent) nothing else can be said: the
    exception goes on, and the server cuts the connection, so the client sees the body is incomplete."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if started:
                raise
            log.exception("%s %s failed unexpectedly", scope["method"], scope["path"])
            body = problems.body(problems.INTERNAL_ERROR, INTERNAL_DETAIL)
            headers = [
                (b"content-type", problems.PROBLEM_JSON.encode()),
                (b"content-length", b"%d" % len(body)),
                (b"cache-control", b"no-store"),
                *SECURITY,
            ]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": body})
