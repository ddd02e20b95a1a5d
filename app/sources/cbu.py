"""Central Bank of the Republic of Uzbekistan: sum per `Nominal` units of foreign currency.

A JSON array of objects whose fields are all strings: `Ccy`, `Nominal`, `Rate`, `Date` (`DD.MM.YYYY`,
the day the rate takes effect). Every row is read; some (TMT) are the bank's own crosses and have been seen to
jump upstream (4037.68 -> 3469.17 overnight): the jump flag says so, and TMT's best source is its own bank.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.freshness import Publication
from app.domain.quotes import Quote
from app.sources import _feed
from app.sources.base import ParseError, SourceSpec

NAME = "cbu"
CURRENCY = "UZS"


def _field(row: dict[str, Any], key: str, what: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ParseError(f"{what}: field {key!r} is missing or not a non-empty string ({value!r})")
    return value


def _row(row: dict[str, Any]) -> tuple[str, Decimal]:
    code = _feed.code(_field(row, "Ccy", NAME), NAME)
    what = f"{NAME} {code}"
    return code, _feed.rate(_field(row, "Rate", what), _field(row, "Nominal", what), what)


def parse(body: bytes, observed_at: datetime) -> list[Quote]:
    """Every currency of the table against USD (UZS per USD from the USD row, the others through it), effective
    on the USD row's `Date` (a row of another date is not of this table, and is refused)."""
    rows = _feed.json_body(body, NAME)
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ParseError(f"{NAME}: expected a JSON array of objects, got {type(rows).__name__}")
    usd = _feed.only_one((row for row in rows if row.get("Ccy") == "USD"), "USD", NAME)
    effective = _feed.day(_field(usd, "Date", f"{NAME} USD"), "%d.%m.%Y", f"{NAME} USD")
    for row in rows:
        what = f"{NAME} {row.get('Ccy')!r}"
        if _feed.day(_field(row, "Date", what), "%d.%m.%Y", what) != effective:
            raise ParseError(f"{what}: dated {row['Date']}, the table's USD row {effective:%d.%m.%Y}")
    return _feed.table_quotes(NAME, CURRENCY, (_row(row) for row in rows), observed_at, effective)


SPEC = SourceSpec(
    name=NAME,
    title="Central Bank of the Republic of Uzbekistan official rates (UZS per unit of each currency)",
    default_url="https://cbu.uz/en/arkhiv-kursov-valyut/json/all/{date:%Y-%m-%d}/",
    parse=parse,
    authoritative_for=(CURRENCY,),
    home_currency=CURRENCY,
    default_interval_seconds=1800,
    utc_offset_hours=5,  # Tashkent time, no DST
    publication=Publication.DAILY,
)
