"""`rate` is units of the currency per one unit of the base in every answer, as every other rates API writes it;
`inverse` is the other way round, and every percentage is of `rate` as written beside it.

A hand-built series, with a source of each direction:

    KZT from erapi, tenge per USD (the bank direction: `rate` as published):   500 from 00:00, 400 from 01:00
    KGS from the ticker, USD per som (`inverse` as published):              0.0125 from 00:00, 0.0100 from 01:00

so in base USD the tenge strengthens (500 -> 400 per dollar, -20 %) and the som weakens (80 -> 100, +25 %; the
ticker itself printed -20 %, about its own KGS/USD). In base KZT the som costs 0.16, then 0.25 som per tenge.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.series import serve, span
from tests.support import at

D = Decimal
DAY = {"start": "2026-01-01", "end": "2026-01-01T23:00"}


def _rows() -> list[dict[str, Any]]:
    rows = [
        span("KZT", "erapi", "500", True, at("2026-01-01T00:00"), at("2026-01-01T00:50")),
        span("KZT", "erapi", "400", True, at("2026-01-01T01:00"), at("2026-01-01T02:00")),
        span("KGS", "ticker", "0.0125", False, at("2026-01-01T00:00"), at("2026-01-01T00:50")),
        span("KGS", "ticker", "0.0100", False, at("2026-01-01T01:00"), at("2026-01-01T02:00")),
    ]
    rows[-1]["reported_change_pct"] = "-20"  # what the ticker printed beside 0.0100: its own KGS/USD moved -20 %
    return rows


@pytest.fixture
def client(engine: Engine, database_url: str) -> Iterator[TestClient]:
    with serve(engine, database_url, _rows()) as client:
        yield client


def exact(response: Any) -> Any:
    """The body with every number as a Decimal: digits are compared, never doubles."""
    assert response.status_code == 200, response.text
    return json.loads(response.content, parse_float=Decimal, parse_int=Decimal)


def _fields(rate: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(rate[name] for name in names)


LATEST = ("pair", "rate", "inverse", "previous_rate", "change_pct", "source_change_pct")


def test_latest_in_base_usd_is_units_of_the_currency_per_dollar(client: TestClient) -> None:
    body = exact(client.get("/rates/latest"))
    assert body["base"] == "USD"
    rates = {r["currency"]: r for r in body["rates"]}
    assert _fields(rates["KZT"], *LATEST) == ("USD/KZT", D("400"), D("0.0025"), D("500"), D("-20"), None)
    assert _fields(rates["KGS"], *LATEST) == ("USD/KGS", D("100"), D("0.0100"), D("80"), D("25"), D("-20"))
    # The digits each source published stay exact, in whichever field they belong
    raw = client.get("/rates/latest").content
    assert b'"rate":400,' in raw and b'"inverse":0.0100,' in raw


def test_latest_in_base_kzt_is_units_of_the_currency_per_tenge(client: TestClient) -> None:
    body = exact(client.get("/rates/latest", params={"base": "KZT"}))
    assert body["base"] == "KZT"
    rates = {r["currency"]: r for r in body["rates"]}
    assert list(rates) == ["USD", "KGS"]
    # USD per tenge: 1 / 400, before 1 / 500
    assert _fields(rates["USD"], *LATEST) == ("KZT/USD", D("0.0025"), D("400"), D("0.002"), D("25"), None)
    # Som per tenge: 0.0025 / 0.0100, before 0.002 / 0.0125 (both legs moved at 01:00)
    assert _fields(rates["KGS"], *LATEST) == ("KZT/KGS", D("0.25"), D("4"), D("0.16"), D("56.25"), None)
    # Each leg is its own rate in base USD
    assert (rates["KGS"]["legs"]["KGS"]["rate"], rates["KGS"]["legs"]["KZT"]["rate"]) == (D("100"), D("400"))


def test_the_base_itself_is_one(client: TestClient) -> None:
    for base, asked in (("KZT", "KZT"), ("KZT", "KGS,KZT"), ("USD", "USD")):
        body = exact(client.get("/rates/latest", params={"base": base, "currencies": asked}))
        itself = body["rates"][0]
        assert _fields(itself, "currency", "pair", "rate", "inverse", "source", "stale") == (
            base, f"{base}/{base}", 1, 1, None, False)  # fmt: skip
        assert [r["currency"] for r in body["rates"]] == [base, *(["KGS"] if "KGS" in asked else [])]
    at_once = exact(client.get("/rates/at/2026-01-01T01:30", params={"base": "KZT", "currencies": "KZT,USD"}))
    assert [(r["currency"], r["rate"]) for r in at_once["rates"]] == [("KZT", 1), ("USD", D("0.0025"))]


def test_ticker_text_keeps_the_tickers_own_notation(client: TestClient) -> None:
    text = client.get("/rates/ticker.txt", params={"currencies": "KGS"}).text
    assert text == "KGS/USD = 0.01000 -20%\n"  # USD per som, and the move of that figure


def test_changes_are_of_rate_as_written(client: TestClient) -> None:
    window = {"start": "2026-01-01T00:30", "end": "2026-01-01T01:30"}
    kgs = exact(client.get("/rates/KGS/change", params=window))
    assert _fields(kgs, "start_rate", "end_rate", "change", "change_pct") == (D("80"), D("100"), D("20"), D("25"))
    crossed = exact(client.get("/rates/KGS/change", params={**window, "base": "KZT"}))
    assert _fields(crossed, "start_rate", "end_rate", "change", "change_pct") == (
        D("0.16"), D("0.25"), D("0.09"), D("56.25"))  # fmt: skip
    many = exact(client.get("/rates/changes", params=window))
    assert [(c["currency"], c["change_pct"]) for c in many["changes"]] == [("KGS", D("25")), ("KZT", D("-20"))]


def test_history_raw_and_buckets_in_base_usd(client: TestClient) -> None:
    raw = exact(client.get("/rates/KGS/history", params=DAY))["points"]
    assert [(p["rate"], p["inverse"]) for p in raw] == [(D("80"), D("0.0125")), (D("100"), D("0.0100"))]
    (day,) = exact(client.get("/rates/KGS/history", params={**DAY, "interval": "1d"}))["points"]
    # 80 som per dollar for 60 minutes, then 100 for 75 (until 02:00 and the 15 minutes it holds): 12300 / 135
    assert _fields(day, "open", "high", "low", "close", "average") == (
        D("80"), D("100"), D("80"), D("100"), D("91.1111111111111"))  # fmt: skip


def test_history_raw_and_buckets_in_base_kzt(client: TestClient) -> None:
    params = {**DAY, "base": "KZT"}
    raw = exact(client.get("/rates/KGS/history", params=params))["points"]
    assert [(p["rate"], p["inverse"]) for p in raw] == [(D("0.16"), D("6.25")), (D("0.25"), D("4"))]
    (day,) = exact(client.get("/rates/KGS/history", params={**params, "interval": "1d"}))["points"]
    # 0.16 som per tenge for 60 minutes, 0.25 for 75: 28.35 / 135
    assert _fields(day, "open", "high", "low", "close", "average") == (
        D("0.16"), D("0.25"), D("0.16"), D("0.25"), D("0.21"))  # fmt: skip


def test_csv_in_base_usd_and_in_base_kzt(client: TestClient) -> None:
    usd = client.get("/rates/export.csv", params={**DAY, "currencies": "KGS,KZT"}).text.splitlines()
    assert usd == [
        "timestamp,until,currency,pair,rate,inverse,source",
        "2026-01-01T00:00:00Z,2026-01-01T00:50:00Z,KGS,USD/KGS,80,0.0125,ticker",
        "2026-01-01T01:00:00Z,2026-01-01T02:00:00Z,KGS,USD/KGS,100,0.0100,ticker",
        "2026-01-01T00:00:00Z,2026-01-01T00:50:00Z,KZT,USD/KZT,500,0.002,erapi",
        "2026-01-01T01:00:00Z,2026-01-01T02:00:00Z,KZT,USD/KZT,400,0.0025,erapi",
    ]
    kzt = client.get("/rates/export.csv", params={**DAY, "currencies": "KGS", "base": "KZT"}).text.splitlines()
    assert kzt == [
        "timestamp,until,currency,pair,rate,inverse,source,base_source",
        "2026-01-01T00:00:00Z,2026-01-01T00:50:00Z,KGS,KZT/KGS,0.16,6.25,ticker,erapi",
        "2026-01-01T01:00:00Z,2026-01-01T02:00:00Z,KGS,KZT/KGS,0.25,4,ticker,erapi",
    ]
    days = client.get("/rates/export.csv", params={**DAY, "currencies": "KGS", "interval": "1d"}).text.splitlines()
    assert days == [
        "timestamp,currency,pair,rate,average,inverse,source",
        "2026-01-01T00:00:00Z,KGS,USD/KGS,100,91.1111111111111,0.0100,ticker",
    ]
    crossed_days = client.get(
        "/rates/export.csv", params={**DAY, "currencies": "KGS", "interval": "1d", "base": "KZT"}
    ).text.splitlines()
    assert crossed_days[1] == "2026-01-01T00:00:00Z,KGS,KZT/KGS,0.25,0.21,4,ticker,erapi"


def test_convert_is_amount_times_rate_with_from_as_the_base(client: TestClient) -> None:
    body = exact(
        client.get("/convert", params={"from": "KZT", "to": "KGS", "amount": "1000", "at": "2026-01-01T01:30"})
    )
    assert (body["rate"], body["result"]) == (D("0.25"), D("250"))  # as /rates/latest?base=KZT has KGS
    assert (body["sources"]["KZT"]["rate"], body["sources"]["KGS"]["rate"]) == (D("400"), D("100"))
    back = exact(client.get("/convert", params={"from": "USD", "to": "KGS", "amount": "2", "at": "2026-01-01T01:30"}))
    assert (back["rate"], back["result"]) == (D("100"), D("200"))


def test_the_dashboard_says_which_way_its_rates_go(client: TestClient) -> None:
    page = client.get("/").text
    assert "Rates are units of each currency per US dollar" in page
    assert "USD per unit of each currency" not in page
