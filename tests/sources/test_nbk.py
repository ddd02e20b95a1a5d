"""National Bank of Kazakhstan: the recorded dated feed, the RSS latest feed, and what must be refused."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.quotes import Quote
from app.domain.values import Value
from app.sources import nbk
from app.sources.base import ParseError, url_for

FIXTURES = Path(__file__).parent.parent / "fixtures"
SEEN = datetime(2026, 4, 2, 3, 15, tzinfo=UTC)
APRIL_1 = (FIXTURES / "nbk_get_rates_2026-04-01.xml").read_bytes()


def rates(usd_value: str = "478.77", quant: str = "1", day: str = "01.04.2026", title: str = "USD") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rates>'
        f"<date>{day}</date>"
        "<item><title>EUR</title><description>517.86</description><quant>1</quant></item>"
        f"<item><title>{title}</title><description>{usd_value}</description><quant>{quant}</quant></item>"
        "</rates>"
    ).encode()


def rss(pub_date: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Official exchange rates of National Bank of Republic Kazakhstan</title>"
        f"<item><title>KGS</title><pubDate>{pub_date}</pubDate><description>5.43</description><quant>1</quant></item>"
        f"<item><title>USD</title><pubDate>{pub_date}</pubDate><description>475.09</description><quant>1</quant>"
        "<index>DOWN</index><change>-3.68</change></item>"
        "</channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("name", "value", "effective"),
    [
        ("nbk_get_rates_2026-04-01.xml", "478.77", date(2026, 4, 1)),
        ("nbk_get_rates_2026-04-02.xml", "475.09", date(2026, 4, 2)),
    ],
)
def test_recorded_feed_gives_tenge_per_dollar_first(name: str, value: str, effective: date) -> None:
    quotes = nbk.parse((FIXTURES / name).read_bytes(), SEEN)
    assert quotes[0] == Quote(
        "KZT", "nbk", Value(Decimal(value), per_usd=True), SEEN, effective
    )  # the rest of the table: tests/sources/test_tables.py
    assert str(quotes[0].value) == value


def test_rss_latest_feed_takes_the_date_from_the_usd_item() -> None:
    quote, kgs = nbk.parse(rss("02.04.2026"), SEEN)
    assert (kgs.currency, kgs.value.text) == ("KGS", "475.09/5.43")
    assert (quote.currency, quote.value.value, quote.effective_date) == ("KZT", Decimal("475.09"), date(2026, 4, 2))


def test_rss_pub_date_in_rfc_822_is_read_too() -> None:
    quote, _ = nbk.parse(rss("Thu, 02 Apr 2026 00:00:00 +0500"), SEEN)
    assert quote.effective_date == date(2026, 4, 2)


def test_rss_item_without_pub_date_is_refused() -> None:
    body = rss("02.04.2026").replace(b"<pubDate>02.04.2026</pubDate>", b"")
    with pytest.raises(ParseError, match="no <pubDate>"):
        nbk.parse(body, SEEN)


def test_value_is_divided_by_quant() -> None:
    quote, _ = nbk.parse(rates("47877", quant="100"), SEEN)
    assert quote.value.value == Decimal("478.77")
    assert str(quote.value) == "478.77"


@pytest.mark.parametrize("quant", ["0", "3", "1.5", ""])
def test_quant_that_is_not_a_power_of_ten_is_refused(quant: str) -> None:
    with pytest.raises(ParseError, match=r"quant|nominal"):
        nbk.parse(rates(quant=quant), SEEN)


def test_missing_usd_is_refused() -> None:
    with pytest.raises(ParseError, match="no USD entry"):
        nbk.parse(APRIL_1.replace(b"<title>USD</title>", b"<title>XXX</title>"), SEEN)


def test_usd_listed_twice_is_refused() -> None:
    body = rates().replace(
        b"</rates>", b"<item><title>USD</title><description>1</description><quant>1</quant></item></rates>"
    )
    with pytest.raises(ParseError, match="USD is listed twice"):
        nbk.parse(body, SEEN)


@pytest.mark.parametrize("value", ["-478.77", "0", "0.00", "NaN", "4.7877E2", "478,77.1", "abc"])
def test_rate_that_is_not_a_positive_decimal_is_refused(value: str) -> None:
    with pytest.raises(ParseError, match="USD"):
        nbk.parse(rates(value), SEEN)


@pytest.mark.parametrize("day", ["2026-04-01", "32.04.2026", ""])
def test_bad_or_missing_date_is_refused(day: str) -> None:
    with pytest.raises(ParseError, match="date"):
        nbk.parse(rates(day=day), SEEN)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        APRIL_1[: len(APRIL_1) // 2],
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b"\x00\xff\xfegarbage",
        b'{"rates": []}',
    ],
    ids=["empty", "blank", "truncated", "html", "binary", "json"],
)
def test_malformed_body_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError, match="nbk"):
        nbk.parse(body, SEEN)


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE rates ['
    b'<!ENTITY a "aaaaaaaaaa">'
    + b"".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">'.encode() for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    + b"]><rates><date>01.04.2026</date><item><title>USD</title><description>&i;</description></item></rates>"
)


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        b'<?xml version="1.0"?><!DOCTYPE rates [<!ENTITY x SYSTEM "file:///etc/passwd">]><rates>&x;</rates>',
        b'<?xml version="1.0"?><!DOCTYPE rates SYSTEM "http://example.invalid/rates.dtd"><rates/>',
    ],
    ids=["billion-laughs", "external-entity", "external-dtd"],
)
def test_dtd_and_entities_are_refused_quickly(body: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(ParseError, match="unsafe XML"):
        nbk.parse(body, SEEN)
    assert time.perf_counter() - started < 1


def test_spec_fills_the_dated_url() -> None:
    assert nbk.SPEC.utc_offset_hours == 5
    assert nbk.SPEC.name == "nbk"
    assert nbk.SPEC.authoritative_for == ("KZT",)
    assert nbk.SPEC.default_interval_seconds == 1800
    assert url_for(nbk.SPEC.default_url, date(2026, 4, 1)) == (
        "https://nationalbank.kz/rss/get_rates.cfm?fdate=01.04.2026"
    )
