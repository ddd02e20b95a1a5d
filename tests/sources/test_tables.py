"""Every row of every recorded bank table, read independently of the parsers (the standard library's XML and JSON
readers, the published value over its quantity), must come out of the parser exactly, against USD."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.values import DERIVED, Value
from app.sources import cbt, cbu, nbk, nbkr, nbt

FIXTURES = Path(__file__).parent.parent / "fixtures"
SEEN = datetime(2026, 5, 25, 3, 0, tzinfo=UTC)


def _nbk(body: bytes) -> dict[str, tuple[str, str]]:
    return {
        i.findtext("title", ""): (i.findtext("description", ""), i.findtext("quant", ""))
        for i in ET.fromstring(body).iter("item")
    }


def _nbt(body: bytes) -> dict[str, tuple[str, str]]:
    return {
        v.findtext("CharCode", ""): (v.findtext("Value", ""), v.findtext("Nominal", ""))
        for v in ET.fromstring(body).iter("Valute")
    }


def _cbt(body: bytes) -> dict[str, tuple[str, str]]:
    root = ET.fromstring(body)
    return {
        r.get("code", "").strip(): (r.findtext("rate_tmt", "").strip(), r.findtext("multiplier", "").strip())
        for r in root.iter("rate")
    }


def _nbkr(body: bytes) -> dict[str, tuple[str, str]]:
    root = ET.fromstring(body)
    return {
        c.get("ISOCode", ""): (c.findtext("Value", "").replace(",", "."), c.findtext("Nominal", ""))
        for c in root.iter("Currency")
    }


def _cbu(body: bytes) -> dict[str, tuple[str, str]]:
    return {row["Ccy"]: (row["Rate"], row["Nominal"]) for row in json.loads(body)}


TABLES = [
    (nbk, "KZT", "nbk_get_rates_2026-04-01.xml", _nbk),
    (nbk, "KZT", "nbk_get_rates_2026-04-02.xml", _nbk),
    (cbu, "UZS", "cbu_all_2026-04-01.json", _cbu),
    (cbu, "UZS", "cbu_all_2026-04-02.json", _cbu),
    (nbt, "TJS", "nbt_export_2026-05-18.xml", _nbt),
    (nbt, "TJS", "nbt_export_2026-05-19.xml", _nbt),
    (cbt, "TMT", "cbt_kurs_2026-05-20.xml", _cbt),
    (cbt, "TMT", "cbt_kurs_2026-05-21.xml", _cbt),
    (nbkr, "KGS", "nbkr_daily_2026-05-24.xml", _nbkr),
]


@pytest.mark.parametrize(("module", "home", "name", "read"), TABLES, ids=[t[2] for t in TABLES])
def test_every_currency_of_the_table_is_read_per_one_unit_exactly(module, home, name, read) -> None:  # type: ignore[no-untyped-def]
    body = (FIXTURES / name).read_bytes()
    rows = {code: Decimal(value) / Decimal(quantity) for code, (value, quantity) in read(body).items()}
    quotes = {quote.currency: quote for quote in module.parse(body, SEEN)}
    usd = rows.pop("USD")
    rows.pop(home, None)
    assert set(quotes) == {home, *rows}
    assert quotes[home].value == Value(usd, per_usd=True)
    for code, per_unit in rows.items():
        value = quotes[code].value
        # Exact: the quantity divided out is a shift of the decimal point, so no digit is lost or made up.
        assert (value.value, value.over) == (usd, per_unit), code
        assert value.per_base == DERIVED.divide(usd, per_unit), code
        assert value.in_base == DERIVED.divide(per_unit, usd), code
    assert {quote.effective_date for quote in quotes.values()} == {quotes[home].effective_date}


def test_a_currency_quoted_per_hundred_is_stored_per_one_unit() -> None:
    body = (FIXTURES / "nbk_get_rates_2026-04-01.xml").read_bytes()
    assert b"<title>UZS</title>" in body and b"<description>3.93</description>" in body  # 3.93 tenge per 100 sum
    uzs = next(q for q in nbk.parse(body, SEEN) if q.currency == "UZS")
    assert uzs.value.over == Decimal("0.0393") and uzs.value.text == "478.77/0.0393"


def test_rub_in_usd_from_nbk_is_its_dollar_row_over_its_rouble_row() -> None:
    rub = next(
        q for q in nbk.parse((FIXTURES / "nbk_get_rates_2026-04-01.xml").read_bytes(), SEEN) if q.currency == "RUB"
    )
    assert rub.per_base == Decimal("81.5621805792164")  # 478.77 / 5.87, 15 significant digits
    assert rub.in_base == Decimal("0.0122605844142281")  # 5.87 / 478.77
