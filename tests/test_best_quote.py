"""Which source /rates/latest takes each currency from: the bank while it is fresh, then the next."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.api.app import create_app
from app.core.clock import utcnow
from app.domain.quotes import Quote
from app.domain.values import Value
from app.ingest.pipeline import store_quotes
from tests.support import make_settings


def put(engine: Engine, database_url: str, source: str, currency: str, value: str, *, per_usd: bool,
        effective: date | None, minutes_ago: float = 1) -> None:  # fmt: skip
    when = utcnow() - timedelta(minutes=minutes_ago)
    quote = Quote(currency, source, Value(Decimal(value), per_usd), when, effective)
    outcome = store_quotes(engine, make_settings(database_url), source, [quote], started_at=when, entries_seen=1)
    assert outcome.result is not None, outcome.error


def latest(database_url: str, **overrides: object) -> dict[str, dict[str, object]]:
    settings = make_settings(database_url, role="api", **overrides)
    with TestClient(create_app(settings)) as client:
        return {r["currency"]: r for r in client.get("/rates/latest").json()["rates"]}


def test_the_bank_wins_while_fresh(engine: Engine, database_url: str) -> None:
    today = utcnow().date()
    put(engine, database_url, "nbk", "KZT", "478.77", per_usd=True, effective=today)
    put(engine, database_url, "ticker", "KZT", "0.00209", per_usd=False, effective=None)
    kzt = latest(database_url)["KZT"]
    assert (kzt["source"], kzt["rate"], kzt["stale"], kzt["effective_date"]) == ("nbk", 478.77, False, str(today))


def test_a_stale_bank_gives_way_to_the_next_fresh_source(engine: Engine, database_url: str) -> None:
    old = utcnow().date() - timedelta(days=6)
    put(engine, database_url, "nbk", "KZT", "478.77", per_usd=True, effective=old)
    put(engine, database_url, "erapi", "KZT", "480.5", per_usd=True, effective=utcnow().date())
    put(engine, database_url, "ticker", "KZT", "0.00209", per_usd=False, effective=None)
    # erapi is a cross-check only on its open access terms: the next fresh source served is the ticker...
    assert latest(database_url)["KZT"]["source"] == "ticker"
    # ...and with a plan whose terms allow serving it, erapi, which comes first.
    assert latest(database_url, erapi_plan="licensed")["KZT"]["source"] == "erapi"
    assert latest(database_url, bank_stale_days=10)["KZT"]["source"] == "nbk"


def test_an_intraday_source_that_missed_polls_is_passed_over(engine: Engine, database_url: str) -> None:
    put(engine, database_url, "erapi", "UZS", "12707.5", per_usd=True, effective=utcnow().date(), minutes_ago=600)
    put(engine, database_url, "ticker", "UZS", "0.00008", per_usd=False, effective=None)
    uzs = latest(database_url, erapi_plan="licensed")["UZS"]  # erapi served, and still passed over
    assert (uzs["source"], uzs["stale"]) == ("ticker", False)


def test_tmt_falls_back_to_the_peg_and_the_order_is_configurable(engine: Engine, database_url: str) -> None:
    put(engine, database_url, "peg", "TMT", "3.50", per_usd=True, effective=utcnow().date())
    put(engine, database_url, "ticker", "TMT", "0.28571", per_usd=False, effective=None)
    assert latest(database_url)["TMT"]["source"] == "peg"
    assert latest(database_url, source_priority="ticker,peg")["TMT"]["source"] == "ticker"


def test_erapi_is_credited_when_shown(engine: Engine, database_url: str) -> None:
    put(engine, database_url, "erapi", "KGS", "85.734152", per_usd=True, effective=utcnow().date())
    settings = make_settings(database_url, role="api", erapi_plan="licensed")  # shown only where a plan allows it
    with TestClient(create_app(settings)) as client:
        body = client.get("/rates/latest").json()
    assert body["attribution"] == ["Rates By Exchange Rate API: https://www.exchangerate-api.com"]
