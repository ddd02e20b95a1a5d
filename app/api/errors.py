"""Every error the API gives is `{"detail": "<what is wrong and how to fix it>"}`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.read.history import NoData


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = [str(p) for p in error.get("loc", ()) if p not in ("query", "path", "body")]
        name = ".".join(where) or "request"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"parameter '{name}': {message}")
    return "; ".join(parts) or "invalid request"


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": _describe(exc)}, status_code=422)


async def _no_data(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(NoData, _no_data)  # a currency with no data yet: 404 that says which
