"""Frankfurter v2's shapes (no client library on PyPI speaks v2 yet): rows of {date, base, quote, rate} for a date
and a range, one pair, CSV, currencies, one currency and the providers, each as Frankfurter documents it; and the
answers for a date nothing is known of."""

from __future__ import annotations

import csv
import io

from sqlalchemy import Engine

from tests.series import serve
from tests.test_rates_on_date import ALL


def test_v2_rates_are_rows_for_a_date_or_for_each_date_of_a_range(engine: Engine, database_url: str) -> None:
    with serve(engine, database_url, ALL) as client:
        day = client.get("/frankfurter/v2/rates", params={"base": "KZT", "quotes": "UZS", "date": "2026-04-02"})
        series = client.get("/frankfurter/v2/rates", params={"quotes": "KZT", "from": "2026-04-03", "to": "2026-04-05"})
        table = client.get("/frankfurter/v2/rates.csv", params={"quotes": "KZT", "date": "2026-04-04"})
        pair = client.get("/frankfurter/v2/rate/USD/KZT", params={"date": "2026-04-04"})
        same = client.get("/frankfurter/v2/rate/KZT/KZT", params={"date": "2026-04-04"})
    assert day.json() == [{"date": "2026-04-02", "base": "KZT", "quote": "UZS", "rate": 25.6649756922427}]
    assert [(r["date"], r["quote"], r["rate"]) for r in series.json()] == [
        ("2026-04-03", "KZT", 474),
        ("2026-04-04", "KZT", 474),
        ("2026-04-05", "KZT", 474),
    ]
    assert table.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(table.text))) == [
        ["date", "base", "quote", "rate"],
        ["2026-04-04", "USD", "KZT", "474.00"],
    ]
    assert pair.json() == {"date": "2026-04-04", "base": "USD", "quote": "KZT", "rate": 474}
    assert same.json() == {"date": "2026-04-04", "base": "KZT", "quote": "KZT", "rate": 1}


def test_v2_currencies_and_providers_name_what_quotes_what(engine: Engine, database_url: str) -> None:
    with serve(engine, database_url, ALL) as client:
        currencies = client.get("/frankfurter/v2/currencies").json()
        one = client.get("/frankfurter/v2/currency/kzt").json()
        unknown = client.get("/frankfurter/v2/currency/GBP")
        providers = {p["key"]: p for p in client.get("/frankfurter/v2/providers").json()}
    assert {c["iso_code"] for c in currencies} == {"USD", "KGS", "KZT", "TJS", "UZS", "TMT", "RUB", "EUR", "CNY"}
    assert (one["iso_code"], one["name"]) == ("KZT", "Kazakhstani Tenge")
    assert set(one["providers"]) == {"nbk"}
    assert unknown.status_code == 422  # an unknown code is a bad parameter, in a path as in a query
    assert providers["nbk"]["currencies"] == ["KZT"]
    assert (providers["nbk"]["start_date"], providers["nbk"]["end_date"]) == ("2026-03-30", "2026-04-08")
    assert providers["nbk"]["rate_type"] == "reference" and providers["ticker"]["rate_type"] == "market"


def test_providers_picks_the_sources_and_a_date_with_nothing_is_a_404(engine: Engine, database_url: str) -> None:
    with serve(engine, database_url, ALL) as client:
        only_ticker = client.get(
            "/frankfurter/v2/rates", params={"providers": "ticker", "quotes": "KZT", "date": "2026-04-02"}
        )
        bad = client.get("/frankfurter/v2/rates", params={"providers": "ecb"})
        empty_day = client.get("/frankfurter/v1/2026-01-05")
        no_pair = client.get("/frankfurter/v2/rate/USD/TMT", params={"date": "2026-04-02"})
    assert only_ticker.json() == []  # the ticker had no tenge then
    assert bad.status_code == 422 and "ecb" in bad.text
    assert empty_day.status_code == 404
    assert no_pair.status_code == 404
