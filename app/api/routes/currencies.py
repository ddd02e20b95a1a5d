"""`/currencies`: the served currencies, their names, their official source, and which source quotes each in
what since when."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import Connection
from sqlmodel import Session

from app.api.caching import cached_json
from app.api.dbaccess import in_database
from app.api.deps import SettingsDep
from app.api.query_schemas import Currencies
from app.api.schemas import NOT_MODIFIED
from app.core.jsonenc import dumps
from app.core.settings import Settings
from app.domain import currencies as iso
from app.read.query import data_version
from app.read.series import stored_range
from app.sources.registry import authoritative_source, quoted_in, servable

router = APIRouter(tags=["rates"])


def _currency(conn: Connection, settings: Settings, code: str) -> dict[str, Any]:
    # The data a client can ask for: a cross-check only source's is not (app.sources.registry.servable).
    served = [source for source in settings.sources if servable(settings, source)]
    ranges = {source: found for source in served if (found := stored_range(conn, code, source))}
    quoted_by = [
        {"source": source, "quoted_in": quoted_in(source, code), "first_date": first.date(), "last_date": last.date()}
        for source, (first, last) in ranges.items()
    ]
    return {
        "code": code,
        "name": iso.name(code),
        "minor_digits": iso.minor_digits(code),
        "authoritative_source": authoritative_source(code),
        "sources": list(ranges),
        "quoted_by": quoted_by,
        "first_date": min(first for first, _ in ranges.values()).date() if ranges else None,
        "last_date": max(last for _, last in ranges.values()).date() if ranges else None,
    }


def _body(conn: Connection, settings: Settings) -> bytes:
    return dumps({"currencies": [_currency(conn, settings, code) for code in settings.currencies]})


@router.get(
    "/currencies",
    response_model=Currencies,
    summary="Every configured currency: code, name, official source, and the dates of its stored data",
    responses={304: NOT_MODIFIED},
)
@in_database
def currencies(request: Request, session: Session, settings: SettingsDep) -> Response:
    conn = session.connection()
    return cached_json(request, ("currencies", data_version(session)), lambda: _body(conn, settings))
