"""Every error the API gives is a problem document (RFC 9457), `application/problem+json`:

    {"type": "https://fx-ticker.dev/problems/unknown-currency", "title": "Unknown currency", "status": 422,
     "detail": "parameter 'currency': unknown currency 'EUR'; valid codes: KGS, KZT, TJS, UZS, TMT",
     "errors": [{"parameter": "currency", "detail": "parameter 'currency': unknown currency 'EUR'; valid codes: ..."}]}

`type` is a stable identifier of the kind of error (an absolute URI under TYPE_BASE: compare it, do not fetch
it), `title` its fixed summary, `detail` the sentence that says what is wrong with this request and how to fix
it, and `errors` (for bad parameters only) each parameter at fault. docs/api.md lists every type.

One status per kind of mistake, wherever it is made: a value of a parameter that cannot be used, a path segment
included (an unknown currency in `/rates/EUR/history` as in `?currencies=EUR`), is a 422; 404 is kept for what
the request names correctly but that has nothing to show (`no-data`), and for paths that do not exist.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import HTTPException, RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.jsonenc import dumps

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://fx-ticker.dev/problems/"


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of error: its `type` (TYPE_BASE + name), status and title never change."""

    name: str
    status: int
    title: str

    @property
    def type(self) -> str:
        return TYPE_BASE + self.name


INVALID_PARAMETER = Kind("invalid-parameter", 422, "A parameter has a value that cannot be used")
UNKNOWN_CURRENCY = Kind("unknown-currency", 422, "Unknown currency")
UNKNOWN_SOURCE = Kind("unknown-source", 422, "Unknown or disabled source")
SOURCE_NOT_SERVED = Kind("source-not-served", 403, "The source's terms do not allow serving its rates")
CONFLICTING_PARAMETERS = Kind("conflicting-parameters", 422, "Parameters that cannot be used together")
TOO_MANY_POINTS = Kind("too-many-points", 422, "The answer would hold too many points")
NO_DATA = Kind("no-data", 404, "No data")
NOT_FOUND = Kind("not-found", 404, "No such resource")
METHOD_NOT_ALLOWED = Kind("method-not-allowed", 405, "Method not allowed")
ADMIN_TOKEN_REQUIRED = Kind("admin-token-required", 401, "An admin token is required")
ADMIN_TOKEN_WRONG = Kind("admin-token-wrong", 403, "Wrong admin token")
NOT_POLLING = Kind("not-polling", 409, "This process does not poll")
URI_TOO_LONG = Kind("uri-too-long", 414, "URI too long")
HEADERS_TOO_LARGE = Kind("header-fields-too-large", 431, "Request header fields too large")
INTERNAL_ERROR = Kind("internal-error", 500, "Internal error")
SERVER_BUSY = Kind("server-busy", 503, "The server is busy")
DATABASE_UNAVAILABLE = Kind("database-unavailable", 503, "The database is unavailable")
POLL_FAILED = Kind("poll-failed", 503, "The polls could not be recorded")

KINDS = (
    INVALID_PARAMETER,
    UNKNOWN_CURRENCY,
    UNKNOWN_SOURCE,
    SOURCE_NOT_SERVED,
    CONFLICTING_PARAMETERS,
    TOO_MANY_POINTS,
    NO_DATA,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    ADMIN_TOKEN_REQUIRED,
    ADMIN_TOKEN_WRONG,
    NOT_POLLING,
    URI_TOO_LONG,
    HEADERS_TOO_LARGE,
    INTERNAL_ERROR,
    SERVER_BUSY,
    DATABASE_UNAVAILABLE,
    POLL_FAILED,
)
# An HTTPException raised without a kind (by Starlette's routing, by a static file) is known by its status.
_BY_STATUS = {422: INVALID_PARAMETER, 404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}


class Problem(HTTPException):
    """An error of a known kind; `parameters` names the parameters at fault (each gets an `errors` entry)."""

    def __init__(
        self,
        kind: Kind,
        detail: str,
        *parameters: str,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(kind.status, detail, dict(headers) if headers else None)
        self.kind = kind
        self.errors = [{"parameter": name, "detail": detail} for name in parameters]
        self.extra = dict(extra or {})


def body(
    kind: Kind,
    detail: str,
    errors: Iterable[Mapping[str, str]] = (),
    extra: Mapping[str, Any] | None = None,
    status: int | None = None,
) -> bytes:
    """The document's bytes: the RFC's members first, then `errors`, then any extension members."""
    document: dict[str, Any] = {
        "type": kind.type if status is None else "about:blank",
        "title": kind.title if status is None else HTTPStatus(status).phrase,
        "status": kind.status if status is None else status,
        "detail": detail,
    }
    listed = list(errors)
    if listed:
        document["errors"] = listed
    document.update(extra or {})
    return dumps(document)


def response(
    kind: Kind,
    detail: str,
    errors: Iterable[Mapping[str, str]] = (),
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """A problem document of `kind`: never cached (the next request may well succeed)."""
    return Response(
        body(kind, detail, errors, extra),
        status_code=kind.status,
        media_type=PROBLEM_JSON,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _parameter(error: Mapping[str, Any]) -> str:
    where = [str(p) for p in error.get("loc", ()) if p not in ("query", "path", "body", "header")]
    return ".".join(where) or "request"


def _message(error: Mapping[str, Any]) -> str:
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")


def describe(exc: RequestValidationError) -> str:
    """Every parameter FastAPI refused, in one sentence: `parameter 'decimals': Input should be ...`."""
    parts = [f"parameter '{_parameter(e)}': {_message(e)}" for e in exc.errors()]
    return "; ".join(parts) or "invalid request"


async def validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [{"parameter": _parameter(e), "detail": _message(e)} for e in exc.errors()]
    return response(INVALID_PARAMETER, describe(exc), errors)


async def http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if isinstance(exc, Problem):
        return response(exc.kind, exc.detail, exc.errors, headers, exc.extra)
    if exc.status_code < 400:  # a 304 raised by a route: no body
        return Response(status_code=exc.status_code, headers=headers)
    kind = _BY_STATUS.get(exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if kind is not None:
        if kind is NOT_FOUND and detail == "Not Found":
            detail = "no such resource: see /docs for the endpoints this service answers"
        elif kind is METHOD_NOT_ALLOWED and detail == "Method Not Allowed":
            detail = f"this resource does not answer that method; it answers {headers.get('Allow', 'GET')}"
        return response(kind, detail, headers=headers)
    return Response(
        body(INTERNAL_ERROR, detail, status=exc.status_code),
        status_code=exc.status_code,
        media_type=PROBLEM_JSON,
        headers={"Cache-Control": "no-store", **headers},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    _document(app)


# --- The OpenAPI document ---------------------------------------------------------------------------------------

_EXAMPLE = "parameter 'currency': unknown currency 'EUR'; valid codes: KGS, KZT, TJS, UZS, TMT"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
SCHEMAS: dict[str, Any] = {
    "Problem": {
        "title": "Problem",
        "type": "object",
        "description": "An error, as an RFC 9457 problem document; docs/api.md lists every `type`",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {
                "type": "string",
                "format": "uri",
                "description": f"The kind of error, stable: {TYPE_BASE}<name> (or about:blank)",
                "examples": [UNKNOWN_CURRENCY.type],
            },
            "title": {"type": "string", "description": "The kind's fixed summary", "examples": ["Unknown currency"]},
            "status": {"type": "integer", "description": "The HTTP status code", "examples": [422]},
            "detail": {
                "type": "string",
                "description": "What is wrong with this request and how to fix it",
                "examples": ["parameter 'currency': unknown currency 'EUR'; valid codes: KGS, KZT, TJS, UZS, TMT"],
            },
            "errors": {
                "type": "array",
                "description": "For bad parameters: each parameter at fault",
                "items": {"$ref": "#/components/schemas/ProblemParameter"},
            },
        },
        "example": {
            "type": UNKNOWN_CURRENCY.type,
            "title": UNKNOWN_CURRENCY.title,
            "status": 422,
            "detail": _EXAMPLE,
            "errors": [{"parameter": "currency", "detail": _EXAMPLE}],
        },
    },
    "ProblemParameter": {
        "title": "ProblemParameter",
        "type": "object",
        "required": ["parameter", "detail"],
        "properties": {
            "parameter": {"type": "string", "description": "The parameter's name, as in the query or the path"},
            "detail": {"type": "string", "description": "What is wrong with its value"},
        },
    },
}
DEFAULT = {"description": "An error: a problem document (RFC 9457; docs/api.md lists every type)"}
_REPLACED = ("#/components/schemas/ErrorBody", "#/components/schemas/HTTPValidationError")


def _is_error_body(response: Mapping[str, Any]) -> bool:
    """A declared error answer without a body of its own (ErrorBody, FastAPI's validation error, or none)."""
    content = response.get("content")
    return not content or any(ref in json.dumps(content) for ref in _REPLACED)


def problems_in(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` with every error answer a problem document, and a `default` answer that says any may be."""
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, declared in responses.items():
                if code.isdigit() and int(code) >= 400 and _is_error_body(declared):
                    declared["content"] = copy.deepcopy(PROBLEM_CONTENT)
            responses.setdefault("default", {**DEFAULT, "content": copy.deepcopy(PROBLEM_CONTENT)})
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(copy.deepcopy(SCHEMAS))
    for unused in ("ErrorBody", "HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in json.dumps(spec):
            schemas.pop(unused, None)
    return spec


def _document(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problems_in(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
