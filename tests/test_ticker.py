"""The ticker parser on the real seed page and on the HTML shapes the live page takes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.quotes import Quote
from app.sources.base import ParseError
from app.sources.ticker import parse
from tests.support import at

SEEN = at("2026-02-23T10:00")


def values(quotes: list[Quote]) -> dict[str, tuple[Decimal, Decimal | None]]:
    return {q.currency: (q.value.value, q.reported_change_pct) for q in quotes}


def test_seed_page_has_five_pairs_repeated_eight_times(seed_page: bytes) -> None:
    quotes = parse(seed_page, SEEN)
    assert len(quotes) == 40
    assert values(quotes) == {
        "KGS": (Decimal("0.01144"), Decimal("0")),
        "KZT": (Decimal("0.00201"), Decimal("0")),
        "TJS": (Decimal("0.10567"), Decimal("-0.09")),
        "UZS": (Decimal("0.00008"), Decimal("0")),
        "TMT": (Decimal("0.28571"), Decimal("0")),
    }
    assert all(q.source == "ticker" and not q.value.per_usd and q.observed_at == SEEN for q in quotes)


def test_rate_is_usd_per_unit_and_inverse_is_derived() -> None:
    (quote,) = parse(b"KGS/USD = 0.01144 0%", SEEN)
    assert quote.in_base == Decimal("0.01144")
    assert quote.per_base == Decimal("87.4125874125874")


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        (b"<li>&bull; <b>KZT</b>/USD&nbsp;=&nbsp;<span>0.00201</span>&nbsp;<i>-0%</i></li>", ("0.00201", "0")),
        (
            b'<span class="c">TJS/USD</span> = <span class="v down">0.10567</span> <span>-0.09%</span>',
            ("0.10567", "-0.09"),
        ),
        (b"<p>UZS<span>/</span>USD <em>=</em> 0.00008 0.76%</p>", ("0.00008", "0.76")),
        ("<p>TMT/USD = 0.28571 \u22120.5%</p>".encode(), ("0.28571", "-0.5")),
        (b"KGS/USD = 0.01144", ("0.01144", None)),
    ],
)
def test_html_variants(markup: bytes, expected: tuple[str, str | None]) -> None:
    page = b"<html><head><meta charset='utf-8'></head><body><div class='ticker'>" + markup + b"</div></body></html>"
    (quote,) = parse(page, SEEN)
    rate, change = expected
    assert quote.value.value == Decimal(rate)
    assert quote.reported_change_pct == (Decimal(change) if change is not None else None)


def test_negative_zero_change_reads_as_zero() -> None:
    (quote,) = parse(b"KZT/USD = 0.00201 -0%", SEEN)
    assert quote.reported_change_pct == 0
    assert str(quote.reported_change_pct) == "0"


def test_older_page_with_four_pairs() -> None:
    page = b" \xe2\x80\xa2 ".join(
        [b"KGS/USD = 0.01144 0%", b"KZT/USD = 0.00201 0%", b"TJS/USD = 0.10567 -0.09%", b"UZS/USD = 0.00008 0%"]
    )
    assert sorted(values(parse(page, SEEN))) == ["KGS", "KZT", "TJS", "UZS"]


def test_script_text_is_not_read_as_a_quote() -> None:
    page = b"<script>tpl = 'KGS/USD = 9.99 0%'</script><div>KGS/USD = 0.01144 0%</div>"
    assert values(parse(page, SEEN)) == {"KGS": (Decimal("0.01144"), Decimal("0"))}


@pytest.mark.parametrize("body", [b"", b"<html><body>No ticker today</body></html>", b"\x00\xff\xfe garbage"])
def test_page_without_ticker_is_an_error(body: bytes) -> None:
    with pytest.raises(ParseError, match="no `CCC/USD = rate` entries"):
        parse(body, SEEN)


def test_zero_rate_is_refused() -> None:
    with pytest.raises(ParseError, match="not a positive number"):
        parse(b"KGS/USD = 0.00000 0%", SEEN)
