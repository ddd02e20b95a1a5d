"""National Bank of Tajikistan: `ValCurs` documents, per-Nominal values, the date the document carries."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.quotes import Quote
from app.domain.values import Value
from app.sources import nbt
from app.sources.base import ParseError, url_for

FIXTURES = Path(__file__).parent.parent / "fixtures"
SEEN = datetime(2026, 5, 19, 9, 30, tzinfo=UTC)
MAY_18 = (FIXTURES / "nbt_export_2026-05-18.xml").read_bytes()


def valcurs(value: str = "9.3450", nominal: str = "1", day: str = "2026-05-18") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8" ?>\n<ValCurs Date="{day}" name="Foreign Currency Market">\n'
        f'<Valute ID="840">\n   <CharCode>USD</CharCode>\n   <Nominal>{nominal}</Nominal>\n'
        f"   <Name>US Dollar</Name>\n   <Value>{value}</Value>\n</Valute>\n</ValCurs>\n"
    ).encode()


@pytest.mark.parametrize(
    ("name", "value", "effective"),
    [
        ("nbt_export_2026-05-18.xml", "9.3450", date(2026, 5, 18)),
        ("nbt_export_2026-05-19.xml", "9.3371", date(2026, 5, 19)),
    ],
)
def test_recorded_feed_gives_somoni_per_dollar_first(name: str, value: str, effective: date) -> None:
    quotes = nbt.parse((FIXTURES / name).read_bytes(), SEEN)
    assert quotes[0] == Quote(
        "TJS", "nbt", Value(Decimal(value), per_usd=True), SEEN, effective
    )  # the rest of the table: tests/sources/test_tables.py
    assert str(quotes[0].value) == value  # the trailing zero of 9.3450 is kept


def test_effective_date_is_the_documents_not_the_clocks() -> None:
    # The bank answers a day it has no rates for with another day's document: the date it carries is
    # what the quote says, so the caller can see the mismatch.
    later = datetime(2026, 5, 25, 8, 0, tzinfo=UTC)
    quote = nbt.parse(MAY_18, later)[0]
    assert (quote.effective_date, quote.observed_at) == (date(2026, 5, 18), later)


def test_value_is_divided_by_nominal() -> None:
    (quote,) = nbt.parse(valcurs("93.450", nominal="10"), SEEN)
    assert str(quote.value) == "9.3450"


def test_decimal_comma_is_read() -> None:
    (quote,) = nbt.parse(valcurs("9,3450"), SEEN)
    assert str(quote.value) == "9.3450"


def test_missing_usd_is_refused() -> None:
    with pytest.raises(ParseError, match="no USD entry"):
        nbt.parse(MAY_18.replace(b"<CharCode>USD</CharCode>", b"<CharCode>XXX</CharCode>"), SEEN)


@pytest.mark.parametrize("value", ["-9.3450", "0", "0.0000", "Infinity", ""])
def test_rate_that_is_not_a_positive_decimal_is_refused(value: str) -> None:
    with pytest.raises(ParseError, match="nbt USD"):
        nbt.parse(valcurs(value), SEEN)


@pytest.mark.parametrize("day", ["18.05.2026", "2026-02-30", ""])
def test_bad_date_is_refused(day: str) -> None:
    with pytest.raises(ParseError, match="Date"):
        nbt.parse(valcurs(day=day), SEEN)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        MAY_18[: len(MAY_18) // 3],
        b"<!DOCTYPE html><html><body>404</body></html>",
        b"<ValCurs",
        b"\xff\xfe\x00",
    ],
    ids=["empty", "truncated", "html-with-doctype", "unclosed", "binary"],
)
def test_malformed_body_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError, match="nbt"):
        nbt.parse(body, SEEN)


def test_entity_bomb_is_refused_quickly() -> None:
    entities = "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    body = (
        f'<?xml version="1.0"?><!DOCTYPE ValCurs [<!ENTITY a "aaaaaaaaaa">{entities}]>'
        '<ValCurs Date="2026-05-18"><Valute><CharCode>USD</CharCode><Nominal>1</Nominal><Value>&i;</Value>'
        "</Valute></ValCurs>"
    ).encode()
    started = time.perf_counter()
    with pytest.raises(ParseError, match="unsafe XML"):
        nbt.parse(body, SEEN)
    assert time.perf_counter() - started < 1


def test_spec_fills_the_dated_url() -> None:
    assert nbt.SPEC.utc_offset_hours == 5
    assert (nbt.SPEC.name, nbt.SPEC.authoritative_for, nbt.SPEC.default_interval_seconds) == (
        "nbt",
        ("TJS",),
        1800,
    )
    assert url_for(nbt.SPEC.default_url, date(2026, 5, 18)) == (
        "https://www.nbt.tj/en/kurs/export_xml.php?date=2026-05-18&export=xmlout"
    )
