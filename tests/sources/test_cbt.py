"""Central Bank of Turkmenistan: `cbt_currency_rate` with CRLF and tabs, `rate_tmt` per multiplier."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.quotes import Quote
from app.domain.values import Value
from app.sources import cbt
from app.sources.base import ParseError, url_for

FIXTURES = Path(__file__).parent.parent / "fixtures"
SEEN = datetime(2026, 5, 21, 4, 0, tzinfo=UTC)
MAY_20 = (FIXTURES / "cbt_kurs_2026-05-20.xml").read_bytes()


def kurs(rate_tmt: str = "3.5", multiplier: str = "1") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        '<cbt_currency_rate name="CBT Currency XML">\r\n'
        '\t<date>20.05.2026</date>\r\n\t<rate code="USD">\r\n\t\t<name>ABŞ-NYŇ DOLLARY</name>\r\n'
        f"\t\t<rate_usd>1</rate_usd>\r\n\t\t<multiplier>{multiplier}</multiplier>\r\n"
        f"\t\t<rate_tmt>{rate_tmt}</rate_tmt>\r\n\t</rate>\r\n</cbt_currency_rate>\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("name", "effective"),
    [("cbt_kurs_2026-05-20.xml", date(2026, 5, 20)), ("cbt_kurs_2026-05-21.xml", date(2026, 5, 21))],
)
def test_recorded_feed_gives_manat_per_dollar_first(name: str, effective: date) -> None:
    quotes = cbt.parse((FIXTURES / name).read_bytes(), SEEN)
    assert quotes[0] == Quote(
        "TMT", "cbt", Value(Decimal("3.5"), per_usd=True), SEEN, effective
    )  # the rest of the table: tests/sources/test_tables.py
    assert str(quotes[0].value) == "3.5"


def test_rate_is_divided_by_multiplier() -> None:
    (quote,) = cbt.parse(kurs("350", multiplier="100"), SEEN)
    assert str(quote.value) == "3.50"


def test_decimal_comma_is_read() -> None:
    (quote,) = cbt.parse(kurs("3,5"), SEEN)
    assert quote.value.value == Decimal("3.5")


def test_missing_usd_is_refused() -> None:
    with pytest.raises(ParseError, match="no USD entry"):
        cbt.parse(MAY_20.replace(b'code="USD"', b'code="XXX"'), SEEN)


@pytest.mark.parametrize("value", ["-3.5", "0", "0.0", "three"])
def test_rate_that_is_not_a_positive_decimal_is_refused(value: str) -> None:
    with pytest.raises(ParseError, match="cbt USD"):
        cbt.parse(kurs(value), SEEN)


def test_missing_date_is_refused() -> None:
    with pytest.raises(ParseError, match="no <date> element"):
        cbt.parse(MAY_20.replace(b"<date>20.05.2026</date>", b""), SEEN)


@pytest.mark.parametrize(
    "body",
    [b"", MAY_20[:-300], b"<html><head><title>403 Forbidden</title></head></html>", b"Forbidden"],
    ids=["empty", "truncated", "403-page", "plain-text"],
)
def test_malformed_body_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError, match="cbt"):
        cbt.parse(body, SEEN)


def test_entity_bomb_is_refused_quickly() -> None:
    entities = "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    body = (
        f'<?xml version="1.0"?><!DOCTYPE cbt_currency_rate [<!ENTITY a "aaaaaaaaaa">{entities}]>'
        '<cbt_currency_rate><date>20.05.2026</date><rate code="USD"><multiplier>1</multiplier>'
        "<rate_tmt>&i;</rate_tmt></rate></cbt_currency_rate>"
    ).encode()
    started = time.perf_counter()
    with pytest.raises(ParseError, match="unsafe XML"):
        cbt.parse(body, SEEN)
    assert time.perf_counter() - started < 1


def test_spec_fills_the_dated_url() -> None:
    assert cbt.SPEC.utc_offset_hours == 5
    assert (cbt.SPEC.name, cbt.SPEC.authoritative_for, cbt.SPEC.default_interval_seconds) == (
        "cbt",
        ("TMT",),
        1800,
    )
    assert url_for(cbt.SPEC.default_url, date(2026, 5, 20)) == "https://cbt.tm/kurs/2026/20052026.xml"
