"""`symbols=`, the name Fixer and Open Exchange Rates give the list of currencies, answered as `currencies=`.

Renamed once, before routing, so that every endpoint (and the fast paths) sees one parameter and one spelling of
it: a client moving from those APIs keeps its query strings. Both names at once, saying different things, is a
mistake the client must hear about. The Frankfurter-compatible paths have a `symbols` of their own.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.problems import CONFLICTING_PARAMETERS, response
from app.api.security import HEADERS as SECURITY

ALIAS, NAME = "symbols", "currencies"
_ALIAS, _NAME = ALIAS.encode(), NAME.encode()
_OWN = "/frankfurter/"  # Frankfurter's own endpoints, where `symbols` is its own parameter


class SymbolsAlias:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw: bytes = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if b"symbols=" not in raw or scope["path"].startswith(_OWN):
            await self.app(scope, receive, send)
            return
        # Renamed as bytes, item by item: the rest of the query reaches the app exactly as the client wrote it.
        items = [item.partition(b"=") for item in raw.split(b"&")]
        given = {_value(value) for key, _, value in items if _value(key) == _NAME}
        aliased = {_value(value) for key, _, value in items if _value(key) == _ALIAS}
        if given and aliased and given != aliased:
            await _conflict()(scope, receive, send)
            return
        kept = [(_NAME if _value(key) == _ALIAS else key, sep, value) for key, sep, value in items]
        if given:  # the same list twice: the alias adds nothing
            kept = [item for item, (key, _, _) in zip(kept, items, strict=True) if _value(key) != _ALIAS]
        scope = dict(scope, query_string=b"&".join(key + sep + value for key, sep, value in kept))
        await self.app(scope, receive, send)


def _value(text: bytes) -> bytes:
    """A query item's key or value as the app will read it (`+` a space, `%XX` decoded)."""
    return unquote_to_bytes(text.replace(b"+", b" "))


def _conflict() -> Response:
    detail = f"parameters '{NAME}' and '{ALIAS}' name different currencies; give one of them (they are the same)"
    errors = [{"parameter": name, "detail": detail} for name in (NAME, ALIAS)]
    answer = response(CONFLICTING_PARAMETERS, detail, errors)
    for name, value in SECURITY:  # outside SecurityHeaders, like the fast paths it sits in front of
        answer.headers[name.decode()] = value.decode()
    return answer


def document(app: FastAPI) -> None:
    """List `symbols` beside every `currencies` query parameter of the OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build()
            for operations in spec.get("paths", {}).values():
                for operation in operations.values():
                    _add_alias(operation)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_alias(operation: dict[str, Any]) -> None:
    parameters = operation.get("parameters", [])
    names = {p["name"] for p in parameters}
    for parameter in list(parameters):
        if parameter["name"] == NAME and parameter["in"] == "query" and ALIAS not in names:
            alias = copy.deepcopy(parameter)
            alias["name"] = ALIAS
            alias["description"] = f"The same as `{NAME}` (the name Fixer and Open Exchange Rates use)"
            parameters.append(alias)
