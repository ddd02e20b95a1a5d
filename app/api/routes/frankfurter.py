"""Frankfurter's endpoint set (`/frankfurter/v1/…`, `/frankfurter/v2/…`): the many clients, tools and MCP servers
written for api.frankfurter.dev work against fx-ticker by changing only their base URL.

The numbers are the rate for a date (app.read.daily): the official fixing for it, or the last one carried into it.
Frankfurter's own default base is EUR; fx-ticker tracks dollar rates, so where a client leaves `base` out the
answer is in USD, and says so in its `base` member. Shapes follow Frankfurter's public documentation; where they
cannot hold what fx-ticker knows (sources, carried dates), the native endpoints (/rates/on, /rates/daily) do.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import Connection
from sqlmodel import Session

from app.api.caching import cached_json
from app.api.csv import cell
from app.api.dbaccess import in_database
from app.api.deps import SettingsDep
from app.api.params import OR_EMPTY, base_code, check_range, currency_list, known_code, parse_day
from app.api.problems import INVALID_PARAMETER, NO_DATA, UNKNOWN_SOURCE, Problem
from app.api.schemas import NOT_MODIFIED, ErrorBody
from app.core.clock import utcnow
from app.core.jsonenc import dumps, iso
from app.core.settings import Settings
from app.domain import currencies
from app.domain.cross import AMOUNT_HELP, AMOUNT_PATTERN, AmountError, parse_amount
from app.domain.values import DERIVED, USD
from app.read.daily import DayReader, day_rates, days_between
from app.read.query import data_version
from app.read.series import stored_range
from app.sources.registry import SOURCES, served_sources

ERRORS: dict[int | str, dict[str, Any]] = {
    304: NOT_MODIFIED,
    404: {"model": ErrorBody, "description": "No rate for the date or range asked"},
    422: {"model": ErrorBody, "description": "A bad date, code, amount or provider"},
}


def _operation_id(route: APIRoute) -> str:
    """`frankfurter_` and the function's name (`frankfurter_v1_latest`): apart from the native `/v1` operations."""
    return f"frankfurter_{route.name}"


v1 = APIRouter(
    prefix="/frankfurter/v1", tags=["frankfurter"], responses=ERRORS, generate_unique_id_function=_operation_id
)
v2 = APIRouter(
    prefix="/frankfurter/v2", tags=["frankfurter"], responses=ERRORS, generate_unique_id_function=_operation_id
)

BaseParam = Annotated[str | None, Query(description="The base currency (default USD)", examples=["KZT"])]
FromParam = Annotated[str | None, Query(alias="from", description="The same as `base`")]
SymbolsParam = Annotated[str | None, Query(description="Comma-separated codes to include (default: all)")]
ToParam = Annotated[str | None, Query(alias="to", description="The same as `symbols`")]
AmountParam = Annotated[
    str | None,
    Query(
        description=f"Express the rates for this amount of the base (default 1). {AMOUNT_HELP}",
        json_schema_extra={"pattern": OR_EMPTY + AMOUNT_PATTERN},
    ),
]
ProvidersParam = Annotated[
    str | None, Query(description="Comma-separated fx-ticker sources to take the rates from, in order (default: all)")
]


def _amount(raw: str | None) -> Decimal:
    if raw is None or not raw.strip():
        return Decimal(1)
    try:
        return parse_amount(raw)
    except AmountError as exc:
        raise Problem(INVALID_PARAMETER, f"parameter 'amount': {exc}", "amount") from None


def _order(raw: str | None, settings: Settings) -> list[str]:
    every = served_sources(settings)
    if raw is None or not raw.strip():
        return every
    asked = [part.strip().lower() for part in raw.split(",") if part.strip()]
    unknown = [name for name in asked if name not in every]
    if unknown:
        detail = f"parameter 'providers': unknown provider {', '.join(unknown)}; valid providers: {', '.join(every)}"
        raise Problem(UNKNOWN_SOURCE, detail, "providers")
    return asked


def _pick(
    settings: Settings, base: str | None, alias: str | None, symbols: str | None, to: str | None
) -> tuple[str, list[str]]:
    base_name = base_code(base if base is not None and base.strip() else alias, settings)
    return base_name, currency_list(
        symbols if symbols is not None and symbols.strip() else to, settings, base_name, itself=True
    )


def _rates(
    reader: DayReader, day: date, base: str, codes: Sequence[str], order: Sequence[str], amount: Decimal
) -> dict[str, Decimal]:
    found = day_rates(reader, day, codes, base, order)
    return {r["currency"]: r["rate"] if amount == 1 else DERIVED.multiply(r["rate"], amount) for r in found}


def _key(session: Session, now: datetime, *parts: object) -> tuple[object, ...]:
    # Answers reaching into today change as the day goes on; older ones only with the data.
    return (data_version(session), iso(now.replace(second=0, microsecond=0)), *parts)


# --- v1: {"amount", "base", "date", "rates": {code: rate}} ----------------------------------------------------------


def _v1_day(
    request: Request, session: Session, settings: Settings, day: date, base: str, codes: list[str], amount: Decimal,
    now: datetime,
) -> Response:  # fmt: skip
    conn = session.connection()

    def render() -> bytes:
        reader = DayReader(conn, settings, day, day, None, now, announced=False)
        rates = _rates(reader, day, base, codes, _order(None, settings), amount)
        if not rates:
            raise Problem(NO_DATA, f"no rates for {day}")
        return dumps({"amount": amount, "base": base, "date": day, "rates": rates})

    return cached_json(request, ("ff1", *_key(session, now, day, base, tuple(codes), amount)), render)


@v1.get("/latest", summary="Frankfurter v1: the latest rates")
@in_database
def v1_latest(
    request: Request, session: Session, settings: SettingsDep, base: BaseParam = None, from_: FromParam = None,
    symbols: SymbolsParam = None, to: ToParam = None, amount: AmountParam = None,
) -> Response:  # fmt: skip
    now = utcnow()
    base_name, codes = _pick(settings, base, from_, symbols, to)
    return _v1_day(request, session, settings, now.date(), base_name, codes, _amount(amount), now)


@v1.get("/currencies", summary="Frankfurter v1: every currency's code and name")
def v1_currencies(settings: SettingsDep) -> Response:
    codes = [USD, *settings.currencies]
    return Response(dumps({code: currencies.name(code) for code in sorted(codes)}), media_type="application/json")


@v1.get(
    "/{period}", summary="Frankfurter v1: the rates for a date (YYYY-MM-DD) or for each date of a range (START..END)"
)
@in_database
def v1_period(
    request: Request, session: Session, settings: SettingsDep,
    period: Annotated[str, Path(description="`2026-04-01`, `2026-04-01..2026-04-30` or `2026-04-01..`")],
    base: BaseParam = None, from_: FromParam = None, symbols: SymbolsParam = None, to: ToParam = None,
    amount: AmountParam = None,
) -> Response:  # fmt: skip
    now = utcnow()
    base_name, codes = _pick(settings, base, from_, symbols, to)
    size = _amount(amount)
    if ".." not in period:
        return _v1_day(request, session, settings, parse_day("period", period, now.date()), base_name, codes, size, now)
    start_text, _, end_text = period.partition("..")
    first = parse_day("period", start_text, now.date())
    last = parse_day("period", end_text, now.date()) if end_text.strip() else now.date()
    check_range(first, last, "period", "period")
    conn = session.connection()
    order = _order(None, settings)

    def render() -> bytes:
        reader = DayReader(conn, settings, first, last, None, now, announced=False)
        days = {d.isoformat(): _rates(reader, d, base_name, codes, order, size) for d in days_between(first, last)}
        rates = {day: found for day, found in days.items() if found}
        if not rates:
            raise Problem(NO_DATA, f"no rates from {first} to {last}")
        return dumps(
            {"amount": size, "base": base_name, "start_date": min(rates), "end_date": max(rates), "rates": rates}
        )

    return cached_json(request, ("ff1r", *_key(session, now, first, last, base_name, tuple(codes), size)), render)


# --- v2: rows of {"date", "base", "quote", "rate"} -------------------------------------------------------------------


def _v2_rows(
    conn: Connection, settings: Settings, days: Sequence[date], base: str, codes: Sequence[str], order: Sequence[str],
    now: datetime,
) -> list[dict[str, Any]]:  # fmt: skip
    reader = DayReader(conn, settings, days[0], days[-1], None, now, announced=False)
    return [
        {"date": d, "base": base, "quote": code, "rate": rate}
        for d in days
        for code, rate in _rates(reader, d, base, codes, order, Decimal(1)).items()
    ]


def _v2_days(now: datetime, day: str | None, start: str | None, end: str | None) -> list[date]:
    if start is not None and start.strip():
        first = parse_day("from", start, now.date())
        last = parse_day("to", end, now.date()) if end is not None and end.strip() else now.date()
        check_range(first, last, "from", "to")
        return days_between(first, last)
    return [parse_day("date", day, now.date()) if day is not None and day.strip() else now.date()]


def _v2_rates(
    request: Request, session: Session, settings: Settings, base: str | None, quotes: str | None, day: str | None,
    start: str | None, end: str | None, providers: str | None, as_csv: bool,
) -> Response:  # fmt: skip
    now = utcnow()
    base_name = base_code(base, settings)
    codes = currency_list(quotes, settings, base_name, itself=True)
    days = _v2_days(now, day, start, end)
    order = _order(providers, settings)
    conn = session.connection()

    def render() -> bytes:
        rows = _v2_rows(conn, settings, days, base_name, codes, order, now)
        if not as_csv:
            return dumps(rows)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(("date", "base", "quote", "rate"))
        writer.writerows([cell(r[f]) for f in ("date", "base", "quote", "rate")] for r in rows)
        return out.getvalue().encode()

    key = ("ff2", *_key(session, now, tuple(days), base_name, tuple(codes), tuple(order), as_csv))
    response = cached_json(request, key, render)
    if as_csv and response.status_code == 200:
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
    return response


QuotesParam = Annotated[str | None, Query(description="Comma-separated codes to include (default: all)")]
DateParam = Annotated[str | None, Query(alias="date", description="YYYY-MM-DD (default: today)")]
V2From = Annotated[str | None, Query(alias="from", description="The first date of a series, YYYY-MM-DD")]
V2To = Annotated[str | None, Query(alias="to", description="The last date of a series (default: today)")]


@v2.get("/rates", summary="Frankfurter v2: rates as rows, for a date or each date of a range")
@in_database
def v2_rates(
    request: Request, session: Session, settings: SettingsDep, base: BaseParam = None, quotes: QuotesParam = None,
    date_: Annotated[str | None, Query(alias="date", description="YYYY-MM-DD (default: today)")] = None,
    from_: V2From = None, to: V2To = None, providers: ProvidersParam = None,
) -> Response:  # fmt: skip
    return _v2_rates(request, session, settings, base, quotes, date_, from_, to, providers, as_csv=False)


@v2.get(
    "/rates.csv",
    summary="Frankfurter v2: the same rows as CSV",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
@in_database
def v2_rates_csv(
    request: Request, session: Session, settings: SettingsDep, base: BaseParam = None, quotes: QuotesParam = None,
    date_: Annotated[str | None, Query(alias="date", description="YYYY-MM-DD (default: today)")] = None,
    from_: V2From = None, to: V2To = None, providers: ProvidersParam = None,
) -> Response:  # fmt: skip
    return _v2_rates(request, session, settings, base, quotes, date_, from_, to, providers, as_csv=True)


@v2.get("/rate/{base}/{quote}", summary="Frankfurter v2: one pair's rate for a date")
@in_database
def v2_rate(
    request: Request, session: Session, settings: SettingsDep, base: str, quote: str, date_: DateParam = None
) -> Response:
    now = utcnow()
    base_name = base_code(base, settings)
    code = quote.strip().upper()
    if code == base_name:
        day = parse_day("date", date_, now.date()) if date_ else now.date()
        return Response(
            dumps({"date": day, "base": base_name, "quote": code, "rate": 1}), media_type="application/json"
        )
    codes = currency_list(code, settings, base_name)
    day = parse_day("date", date_, now.date()) if date_ is not None and date_.strip() else now.date()
    conn = session.connection()

    def render() -> bytes:
        rows = _v2_rows(conn, settings, [day], base_name, codes, _order(None, settings), now)
        if not rows:
            raise Problem(NO_DATA, f"no {base_name}/{code} rate for {day}")
        return dumps(rows[0])

    return cached_json(request, ("ff2p", *_key(session, now, day, base_name, code)), render)


def _currency(conn: Connection, settings: Settings, code: str) -> dict[str, Any]:
    providers = [name for name in served_sources(settings) if code == USD or stored_range(conn, code, name) is not None]
    return {"iso_code": code, "name": currencies.name(code), "providers": providers}


@v2.get("/currencies", summary="Frankfurter v2: every currency, with the sources that quote it")
@in_database
def v2_currencies(request: Request, session: Session, settings: SettingsDep) -> Response:
    conn = session.connection()
    codes = sorted([USD, *settings.currencies])

    def render() -> bytes:
        return dumps([_currency(conn, settings, code) for code in codes])

    return cached_json(request, ("ff2c", data_version(session)), render)


@v2.get("/currency/{code}", summary="Frankfurter v2: one currency")
@in_database
def v2_currency(request: Request, session: Session, settings: SettingsDep, code: str) -> Response:
    wanted = known_code("code", code, [USD, *settings.currencies])
    conn = session.connection()
    return cached_json(
        request, ("ff2o", data_version(session), wanted), lambda: dumps(_currency(conn, settings, wanted))
    )


def _provider(conn: Connection, settings: Settings, name: str) -> dict[str, Any]:
    spec = SOURCES[name]
    ranges = {c: found for c in settings.currencies if (found := stored_range(conn, c, name)) is not None}
    return {
        "key": name,
        "name": spec.title,
        "rate_type": "reference" if spec.publication.name == "DAILY" else "market",
        "pivot_currency": USD,
        "start_date": min(first for first, _ in ranges.values()).date() if ranges else None,
        "end_date": max(last for _, last in ranges.values()).date() if ranges else None,
        "currencies": sorted(ranges),
    }


@v2.get("/providers", summary="Frankfurter v2: the sources, with the currencies each quotes")
@in_database
def v2_providers(request: Request, session: Session, settings: SettingsDep) -> Response:
    conn = session.connection()
    names = served_sources(settings)

    def render() -> bytes:
        return dumps([_provider(conn, settings, name) for name in names])

    return cached_json(request, ("ff2s", data_version(session)), render)
