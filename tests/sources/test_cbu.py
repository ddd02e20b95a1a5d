"""Central Bank of Uzbekistan: a JSON array of string fields, per-Nominal rates, `Date` as DD.MM.YYYY."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.domain.quotes import Quote
from app.domain.values import Value
from app.sources import cbu
from app.sources.base import ParseError, url_for

FIXTURES = Path(__file__).parent.parent / "fixtures"
SEEN = datetime(2026, 4, 2, 5, 0, tzinfo=UTC)
APRIL_1 = (FIXTURES / "cbu_all_2026-04-01.json").read_bytes()


def row(**overrides: Any) -> dict[str, Any]:
    fields = {"Ccy": "USD", "Nominal": "1", "Rate": "12194.21", "Diff": "-16.5", "Date": "01.04.2026"}
    return {**fields, **overrides}


def body_of(*rows: dict[str, Any]) -> bytes:
    return json.dumps(list(rows)).encode()


@pytest.mark.parametrize(
    ("name", "value", "effective"),
    [
        ("cbu_all_2026-04-01.json", "12194.21", date(2026, 4, 1)),
        ("cbu_all_2026-04-02.json", "12142.10", date(2026, 4, 2)),
    ],
)
def test_recorded_feed_gives_sum_per_dollar_first(name: str, value: str, effective: date) -> None:
    quotes = cbu.parse((FIXTURES / name).read_bytes(), SEEN)
    # KGS, KZT, TJS and the suspect TMT row (4037.68 -> 3469.17 overnight) are not returned.
    assert quotes[0] == Quote(
        "UZS", "cbu", Value(Decimal(value), per_usd=True), SEEN, effective
    )  # the rest of the table: tests/sources/test_tables.py
    assert str(quotes[0].value) == value  # 12142.10 keeps its trailing zero


def test_rate_is_divided_by_nominal() -> None:
    (quote,) = cbu.parse(body_of(row(Rate="121942.1", Nominal="10")), SEEN)
    assert str(quote.value) == "12194.21"


def test_decimal_comma_is_read() -> None:
    (quote,) = cbu.parse(body_of(row(Rate="12194,21")), SEEN)
    assert quote.value.value == Decimal("12194.21")


def test_missing_usd_is_refused() -> None:
    with pytest.raises(ParseError, match="no USD entry"):
        cbu.parse(body_of(row(Ccy="EUR")), SEEN)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"Rate": "-12194.21"}, "not a positive"),
        ({"Rate": "0"}, "not a positive"),
        ({"Rate": "NaN"}, "not a decimal number"),
        ({"Rate": 12194.21}, "field 'Rate' is missing or not a non-empty string"),
        ({"Rate": ""}, "field 'Rate'"),
        ({"Nominal": "7"}, "not a power of ten"),
        ({"Date": "2026-04-01"}, "does not match"),
        ({"Date": None}, "field 'Date'"),
    ],
)
def test_bad_usd_row_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ParseError, match=message):
        cbu.parse(body_of(row(**fields)), SEEN)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (APRIL_1[: len(APRIL_1) // 2], "not valid JSON"),
        (b"<html><body>502 Bad Gateway</body></html>", "not valid JSON"),
        (b'{"Ccy": "USD"}', "expected a JSON array of objects"),
        (b'["USD", 12194.21]', "expected a JSON array of objects"),
        (b"[" * 100_000, "not valid JSON"),
    ],
    ids=["empty", "truncated", "html", "object", "array-of-scalars", "deep-nesting"],
)
def test_malformed_body_is_a_parse_error(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        cbu.parse(body, SEEN)


def test_spec_fills_the_dated_url() -> None:
    assert cbu.SPEC.utc_offset_hours == 5
    assert (cbu.SPEC.name, cbu.SPEC.authoritative_for, cbu.SPEC.default_interval_seconds) == (
        "cbu",
        ("UZS",),
        1800,
    )
    assert url_for(cbu.SPEC.default_url, date(2026, 4, 1)) == (
        "https://cbu.uz/en/arkhiv-kursov-valyut/json/all/2026-04-01/"
    )
