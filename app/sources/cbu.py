"""Central Bank of the Republic of Uzbekistan: sum per `Nominal` units of foreign currency.

A JSON array of objects whose fields are all strings: `Ccy`, `Nominal`, `Rate`, `Date` (`DD.MM.YYYY`,
the day the rate takes effect). Other rows (e.g. TMT) are not read: their figures are cross rates and have
been seen to be wrong upstream (TMT 4037.68 -> 3469.17 overnight).
"""

from __future__ import annotations

from datetime import datetime
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


def parse(body: bytes, observed_at: datetime) -> list[Quote]:
    """The bank's USD rate as UZS per one USD, effective on the row's `Date`."""
    rows = _feed.json_body(body, NAME)
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ParseError(f"{NAME}: expected a JSON array of objects, got {type(rows).__name__}")
    usd = _feed.only_one((row for row in rows if row.get("Ccy") == "USD"), "USD", NAME)
    what = f"{NAME} USD"
    value = _feed.rate(_field(usd, "Rate", what), _field(usd, "Nominal", what), what)
    effective = _feed.day(_field(usd, "Date", what), "%d.%m.%Y", what)
    return [_feed.own_currency_quote(NAME, CURRENCY, value, observed_at, effective)]


SPEC = SourceSpec(
    name=NAME,
    title="Central Bank of the Republic of Uzbekistan official rates (UZS per USD)",
    default_url="https://cbu.uz/en/arkhiv-kursov-valyut/json/all/{date:%Y-%m-%d}/",
    parse=parse,
    authoritative_for=(CURRENCY,),
    default_interval_seconds=1800,
    utc_offset_hours=5,  # Tashkent time, no DST
    publication=Publication.DAILY,
)
