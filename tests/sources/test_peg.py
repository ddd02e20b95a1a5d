"""The declared Turkmen manat peg: no network, 3.50 TMT per USD from 2015-01-01."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from app.domain.quotes import Quote
from app.domain.values import Value
from app.sources import peg
from app.sources.base import ParseError


def test_declared_rate_for_the_day_observed() -> None:
    seen = datetime(2026, 5, 24, 6, 0, tzinfo=UTC)
    quotes = peg.parse(b"", seen)
    assert quotes == [Quote("TMT", "peg", Value(Decimal("3.50"), per_usd=True), seen, date(2026, 5, 24))]
    assert str(quotes[0].value) == "3.50"
    assert quotes[0].in_base == Decimal("0.285714285714286")


def test_body_is_ignored() -> None:
    seen = datetime(2026, 5, 24, 6, 0, tzinfo=UTC)
    assert peg.parse(b"<html>403 Forbidden</html>", seen) == peg.parse(b"", seen)


def test_effective_date_is_the_utc_day_of_the_observation() -> None:
    ashgabat = timezone(timedelta(hours=5))
    seen = datetime(2026, 5, 25, 2, 0, tzinfo=ashgabat)  # still the 24th in UTC
    (quote,) = peg.parse(b"", seen)
    assert (quote.effective_date, quote.observed_at) == (date(2026, 5, 24), seen)


def test_first_day_of_the_peg_and_the_day_before() -> None:
    (quote,) = peg.parse(b"", datetime(2015, 1, 1, 0, 0))
    assert quote.effective_date == date(2015, 1, 1)
    with pytest.raises(ParseError, match=r"2014-12-31 is before the 3\.50 TMT/USD peg of 2015-01-01"):
        peg.parse(b"", datetime(2014, 12, 31, 23, 59, tzinfo=UTC))


def test_declaration_and_spec() -> None:
    assert peg.PEG_AUTHORITY == "Central Bank of Turkmenistan"
    assert peg.PEG_CURRENCY == "TMT"
    assert str(peg.PEG_RATE) == "3.50"
    assert peg.PEG_SINCE.isoformat() == "2015-01-01"
    assert (peg.SPEC.name, peg.SPEC.default_url, peg.SPEC.dated, peg.SPEC.authoritative_for) == (
        "peg",
        "",
        False,
        ("TMT",),
    )
    assert "Central Bank of Turkmenistan" in peg.SPEC.title
    assert peg.SPEC.fetches is False
