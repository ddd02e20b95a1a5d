"""`/rates/on/{date}` and `/rates/daily`: the rate for a date, as an invoice or a tax return asks for it."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import Connection
from sqlmodel import Session

from app.api.caching import cached_json
from app.api.csv import cell
from app.api.dbaccess import in_database
from app.api.deps import SettingsDep
from app.api.params import (
    BaseQuery,
    CurrenciesQuery,
    SourceQuery,
    base_code,
    check_range,
    currency_list,
    parse_day,
    source_name,
    time_zone,
)
from app.api.schemas import NOT_MODIFIED, DailyRates, DayRates, ErrorBody
from app.core.clock import utcnow
from app.core.jsonenc import dumps, iso
from app.core.settings import Settings
from app.read.daily import DayReader, attribution, day_rates, days_between
from app.read.query import data_version
from app.sources.registry import served_sources

router = APIRouter(tags=["rates"])

DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
DATE_SCHEMA: dict[str, Any] = {"pattern": DATE_PATTERN}
DAY_TZ_HELP = (
    "An IANA time zone for the sources keyed by instants (the ticker): their rate for a date is the one in force at "
    "the end of that day there (default: each source's own zone). A central bank's rate is always the one it fixed "
    "for the date, in its own calendar."
)
DayTzQuery = Annotated[str | None, Query(description=DAY_TZ_HELP, examples=["Asia/Almaty"])]
FormatQuery = Annotated[
    Literal["json", "csv"], Query(alias="format", description="`csv`: one row per date and currency")
]
CSV_HEADER = (
    "date",
    "currency",
    "base",
    "pair",
    "rate",
    "inverse",
    "source",
    "effective_date",
    "carried_from",
    "stale",
    "announced",
)
ERRORS: dict[int | str, dict[str, Any]] = {
    304: NOT_MODIFIED,
    422: {"model": ErrorBody, "description": "A bad date, code, source, base or zone"},
}


def _optional_zone(raw: str | None) -> tzinfo | None:
    return time_zone(raw) if raw is not None and raw.strip() else None


def _csv(days: Sequence[dict[str, Any]], base: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for day in days:
        for r in day["rates"]:
            fields = ("pair", "rate", "inverse", "source", "effective_date", "carried_from", "stale", "announced")
            writer.writerow([cell(day["date"]), r["currency"], base, *(cell(r[f]) for f in fields)])
    return out.getvalue().encode()


def _answer(request: Request, key: tuple[Any, ...], render: Any, format_: str) -> Response:
    response = cached_json(request, key, render)
    if format_ == "csv" and response.status_code == 200:
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
        response.headers["Content-Disposition"] = 'attachment; filename="fx-daily.csv"'
    return response


def _choices(
    settings: Settings, currencies: str | None, base: str | None, source: str | None
) -> tuple[str, tuple[str, ...], list[str]]:
    base_name = base_code(base, settings)
    codes = tuple(currency_list(currencies, settings, base_name, itself=True))
    asked = source_name(source, settings)
    order = [asked] if asked is not None else served_sources(settings)
    return base_name, codes, order


def _days(
    conn: Connection, settings: Settings, days: Sequence[date], codes: Sequence[str], base: str, order: list[str],
    zone: tzinfo | None, now: datetime,
) -> list[dict[str, Any]]:  # fmt: skip
    reader = DayReader(conn, settings, days[0], days[-1], zone, now)
    return [{"date": d, "rates": day_rates(reader, d, codes, base, order)} for d in days]


@router.get(
    "/rates/on/{date}",
    summary="Every currency's rate for a date: the official fixing for it, or the last one carried into it",
    responses={**ERRORS, 200: {"model": DayRates, "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
@in_database
def on_date(
    request: Request,
    session: Session,
    settings: SettingsDep,
    day: Annotated[
        str,
        Path(
            alias="date", description="YYYY-MM-DD", examples=["2026-04-01"], json_schema_extra={"pattern": DATE_PATTERN}
        ),
    ],
    currencies: CurrenciesQuery = None,
    source: SourceQuery = None,
    base: BaseQuery = None,
    tz: DayTzQuery = None,
    format_: FormatQuery = "json",
) -> Response:
    """Each currency's rate for `day`, in units of the currency per one `base`: from each central bank the rate it
    fixed for that date (`effective_date`), or, when it fixed none (a weekend, a holiday, a late table), its last
    earlier one with `carried_from`; from a source keyed by instants, the value in force at the end of the day. The
    best source per currency is chosen as /rates/latest chooses it. A currency with nothing in force is left out."""
    now = utcnow()
    wanted = parse_day("date", day, now.date())
    base_name, codes, order = _choices(settings, currencies, base, source)
    zone = _optional_zone(tz)
    conn = session.connection()

    def render() -> bytes:
        days = _days(conn, settings, [wanted], codes, base_name, order, zone, now)
        if format_ == "csv":
            return _csv(days, base_name)
        rates = days[0]["rates"]
        document: dict[str, Any] = {"date": wanted, "base": base_name, "rates": rates}
        if credits := attribution(rates):
            document["attribution"] = credits
        return dumps(document)

    key = ("on", data_version(session), wanted, codes, tuple(order), base_name, str(zone), format_)
    return _answer(request, (*key, _moving(wanted, now)), render, format_)


@router.get(
    "/rates/daily",
    summary="Every currency's rate for each date of a range (the rate for a date, day by day)",
    responses={**ERRORS, 200: {"model": DailyRates, "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
@in_database
def daily(
    request: Request,
    session: Session,
    settings: SettingsDep,
    start: Annotated[str, Query(description="The first date, YYYY-MM-DD", examples=["2026-04-01"])],
    end: Annotated[str | None, Query(description="The last date, YYYY-MM-DD (default: today)")] = None,
    currencies: CurrenciesQuery = None,
    source: SourceQuery = None,
    base: BaseQuery = None,
    tz: DayTzQuery = None,
    format_: FormatQuery = "json",
) -> Response:
    """What /rates/on/{date} answers, for every date from `start` to `end` (at most 366 of them); a date with
    nothing in force has an empty `rates`."""
    now = utcnow()
    first = parse_day("start", start, now.date())
    last = parse_day("end", end, now.date()) if end is not None and end.strip() else now.date()
    check_range(first, last, "start", "end")
    base_name, codes, order = _choices(settings, currencies, base, source)
    zone = _optional_zone(tz)
    conn = session.connection()

    def render() -> bytes:
        days = _days(conn, settings, days_between(first, last), codes, base_name, order, zone, now)
        if format_ == "csv":
            return _csv(days, base_name)
        document: dict[str, Any] = {"base": base_name, "start": first, "end": last, "days": days}
        if credits := attribution([r for d in days for r in d["rates"]]):
            document["attribution"] = credits
        return dumps(document)

    key = ("daily", data_version(session), first, last, codes, tuple(order), base_name, str(zone), format_)
    return _answer(request, (*key, _moving(last, now)), render, format_)


def _moving(last: date, now: datetime) -> str | None:
    """An answer reaching into days not yet over everywhere changes as time goes on even when no data does (the
    day's end moves, a value lapses): keyed by the minute then, by the data version alone after."""
    return iso(now.replace(second=0, microsecond=0)) if (now.date() - last).days < 2 else None
