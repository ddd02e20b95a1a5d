"""National Bank of the Kyrgyz Republic: daily.xml, weekly.xml and the HTML history page."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.quotes import Quote
from app.domain.values import Value
from app.sources import nbkr
from app.sources.base import ParseError

FIXTURES = Path(__file__).parent.parent / "fixtures"
SEEN = datetime(2026, 5, 23, 12, 0, tzinfo=UTC)
DAILY = (FIXTURES / "nbkr_daily_2026-05-24.xml").read_bytes()
WEEKLY = (FIXTURES / "nbkr_weekly_2026-05-23.xml").read_bytes()
HISTORY = (FIXTURES / "nbkr_history_page_2005-06.html").read_bytes()


def daily(value: str = "87,4500", nominal: str = "1", name: str = "Daily Exchange Rates") -> bytes:
    return (
        '<?xml version="1.0" encoding="windows-1251" ?>\n'
        f'<CurrencyRates Name="{name}" Date="24.05.2026">\n'
        f'<Currency ISOCode="USD">\n<Nominal>{nominal}</Nominal>\n<Value>{value}</Value>\n</Currency>\n'
        "</CurrencyRates>\n"
    ).encode("cp1251")


def test_daily_gives_som_per_dollar_effective_on_the_document_date() -> None:
    # Published on the 23rd, the file's Date is the 24th: the day the rate takes effect.
    quotes = nbkr.parse(DAILY, SEEN)
    assert quotes[0] == Quote(
        "KGS", "nbkr", Value(Decimal("87.45"), per_usd=True), SEEN, date(2026, 5, 24)
    )  # then EUR, CNY, KZT, RUB: tests/sources/test_tables.py
    assert str(quotes[0].value) == "87.4500"  # the decimal comma read, every published digit kept


def test_weekly_has_no_usd_and_says_so() -> None:
    # weekly.xml lists TJS 9,4148, UZS 0,0073, TMT 24,9857 (som per unit) but never USD.
    with pytest.raises(ParseError, match=r"no USD entry in 'Weekly Exchange Rates' \(USD is only in daily.xml\)"):
        nbkr.parse(WEEKLY, SEEN)


def test_windows_1251_body_is_decoded_from_its_declaration() -> None:
    body = daily(name="Официальные курсы валют")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")  # the Cyrillic bytes are not UTF-8: only the declaration makes them readable
    (quote,) = nbkr.parse(body, SEEN)
    assert (quote.value, quote.effective_date) == (Value(Decimal("87.45"), per_usd=True), date(2026, 5, 24))


def test_value_is_divided_by_nominal() -> None:
    (quote,) = nbkr.parse(daily("874,500", nominal="10"), SEEN)
    assert str(quote.value) == "87.4500"


def test_point_decimal_is_read_as_well_as_comma() -> None:
    (quote,) = nbkr.parse(daily("87.4500"), SEEN)
    assert str(quote.value) == "87.4500"


@pytest.mark.parametrize("value", ["-87,45", "0,0000", "87,45,00", "87 450", "n/a"])
def test_rate_that_is_not_a_positive_decimal_is_refused(value: str) -> None:
    with pytest.raises(ParseError, match="nbkr USD"):
        nbkr.parse(daily(value), SEEN)


def test_missing_date_attribute_is_refused() -> None:
    with pytest.raises(ParseError, match="no Date= attribute"):
        nbkr.parse(DAILY.replace(b' Date="24.05.2026"', b""), SEEN)


@pytest.mark.parametrize(
    "body",
    [b"", DAILY[:-40], b"<html><body>Service unavailable</body></html>", b"\x89PNG\r\n\x1a\n"],
    ids=["empty", "truncated", "html", "binary"],
)
def test_malformed_body_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError, match="nbkr"):
        nbkr.parse(body, SEEN)


def test_entity_bomb_is_refused_quickly() -> None:
    entities = "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    body = (
        '<?xml version="1.0" encoding="windows-1251"?>'
        f'<!DOCTYPE CurrencyRates [<!ENTITY a "aaaaaaaaaa">{entities}]>'
        '<CurrencyRates Date="24.05.2026"><Currency ISOCode="USD"><Nominal>1</Nominal><Value>&i;</Value>'
        "</Currency></CurrencyRates>"
    ).encode("cp1251")
    started = time.perf_counter()
    with pytest.raises(ParseError, match="unsafe XML"):
        nbkr.parse(body, SEEN)
    assert time.perf_counter() - started < 1


def test_history_page_gives_one_quote_per_row_in_page_order() -> None:
    quotes = nbkr.parse_history(HISTORY, SEEN)
    assert [(q.effective_date, str(q.value)) for q in quotes] == [
        (date(2005, 6, 25), "40.9614"),
        (date(2005, 6, 18), "41.0685"),
        (date(2005, 6, 11), "41.0511"),
        (date(2005, 6, 4), "40.9879"),
    ]
    assert {(q.currency, q.source, q.value.per_usd, q.observed_at) for q in quotes} == {("KGS", "nbkr", True, SEEN)}


def test_history_currency_label_is_the_callers() -> None:
    quotes = nbkr.parse_history(HISTORY, SEEN, currency="XYZ")
    assert [q.currency for q in quotes] == ["XYZ"] * 4


def test_history_row_repeated_with_the_same_value_counts_once() -> None:
    row = b"<tr><td><!--date-->25.06.2005<!--date--></td><td><!--value-->40,9614<!--value--></td></tr>"
    quotes = nbkr.parse_history(row + HISTORY, SEEN)
    assert [q.effective_date for q in quotes] == [
        date(2005, 6, 25),
        date(2005, 6, 18),
        date(2005, 6, 11),
        date(2005, 6, 4),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "no <!--date--> / <!--value--> markers"),
        (b"<html><body>No data for the period</body></html>", "no <!--date--> / <!--value--> markers"),
        (HISTORY.replace(b"<!--value-->41,0685<!--value-->", b""), "do not alternate"),
        (HISTORY[:200], "no </table> after the last row: the page is truncated"),
        (HISTORY[:-20], "the page is truncated"),
        (HISTORY.replace(b"41,0685", b"0,0000"), "not a positive"),
        (HISTORY.replace(b"41,0685", b"-"), "not a decimal number"),
        (HISTORY.replace(b"18.06.2005", b"31.06.2005"), "does not match"),
        (HISTORY.replace(b"18.06.2005", b"25.06.2005"), "listed twice with different values"),
    ],
    ids=[
        "empty",
        "no-rows",
        "missing-value",
        "truncated-between-rows",
        "truncated-in-row",
        "zero",
        "dash",
        "bad-date",
        "conflicting-repeat",
    ],
)
def test_history_page_errors_say_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        nbkr.parse_history(body, SEEN)


def test_spec_is_the_daily_list() -> None:
    assert nbkr.SPEC.utc_offset_hours == 6
    assert (nbkr.SPEC.name, nbkr.SPEC.default_url, nbkr.SPEC.dated) == (
        "nbkr",
        "https://www.nbkr.kg/XML/daily.xml",
        False,
    )
    assert nbkr.SPEC.authoritative_for == ("KGS",)
    assert nbkr.SPEC.default_interval_seconds == 1800
