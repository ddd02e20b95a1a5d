"""The banks' whole tables, stored and served: RUB, EUR and CNY beside the five, every served base, and a bank's
own cross as it fixed it, from the recorded payloads, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from freezegun import freeze_time
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.api.app import create_app
from app.domain.values import DERIVED
from app.ingest import pairs
from app.ingest.pipeline import process
from app.sources import nbk, nbkr
from app.sources.base import SourceSpec
from app.storage.models import RateSpan
from tests.support import FIXTURES, assert_rollups_current, at, make_settings

NBK_APRIL_1 = FIXTURES / "nbk_get_rates_2026-04-01.xml"
NBKR_MAY_24 = FIXTURES / "nbkr_daily_2026-05-24.xml"


def _ingest(engine: Engine, database_url: str, spec: SourceSpec, name: str, when: datetime) -> None:
    settings = make_settings(database_url)
    body = (FIXTURES / name).read_bytes()
    outcome = process(engine, settings, spec, body, observed_at=when, started_at=when)
    assert outcome.ok and outcome.result is not None, outcome.summary()


def exact(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json(parse_float=Decimal)


@pytest.fixture
def tables(engine: Engine, database_url: str) -> Iterator[TestClient]:
    """NBK's table of 1 April and NBKR's of 24 May, each polled on its day."""
    _ingest(engine, database_url, nbk.SPEC, NBK_APRIL_1.name, at("2026-04-01T04:00"))
    _ingest(engine, database_url, nbkr.SPEC, NBKR_MAY_24.name, at("2026-05-24T00:30"))
    with TestClient(create_app(make_settings(database_url, role="api"))) as client:
        yield client


def test_every_served_currency_of_a_table_is_stored_through_its_dollar_row(engine: Engine, tables: TestClient) -> None:
    with Session(engine) as session:
        stored = {(s.currency, s.value) for s in session.exec(select(RateSpan).where(RateSpan.source == "nbk"))}
    # Of NBK's 39 rows, the served ones (FX_CURRENCIES' default): tenge per unit, per 100 sum divided out exactly.
    assert stored == {
        ("KZT", "478.77"), ("KGS", "478.77/5.47"), ("TJS", "478.77/50.19"), ("UZS", "478.77/0.0393"),
        ("RUB", "478.77/5.87"), ("EUR", "478.77/548.62"), ("CNY", "478.77/69.31"),
    }  # fmt: skip


def test_rub_in_usd_is_nbk_dollar_row_over_its_rouble_row(tables: TestClient) -> None:
    body = exact(tables.get("/rates/on/2026-04-01", params={"source": "nbk", "currencies": "RUB"}))
    (rub,) = body["rates"]
    assert rub["rate"] == DERIVED.divide(Decimal("478.77"), Decimal("5.87")) == Decimal("81.5621805792164")
    assert rub["inverse"] == DERIVED.divide(Decimal("5.87"), Decimal("478.77"))
    assert (rub["source"], rub["effective_date"]) == ("nbk", "2026-04-01")


def test_base_rub_is_units_per_rouble_as_nbk_fixed_them(tables: TestClient) -> None:
    body = exact(tables.get("/rates/latest", params={"base": "RUB", "source": "nbk", "currencies": "KZT,EUR"}))
    rates = {r["currency"]: r for r in body["rates"]}
    assert body["base"] == "RUB"
    assert rates["KZT"]["rate"] == Decimal("5.87")  # tenge per rouble: NBK's own row, exactly
    assert rates["EUR"]["rate"] == DERIVED.divide(Decimal("5.87"), Decimal("548.62"))  # both legs of one table
    assert (rates["KZT"]["method"], rates["EUR"]["method"]) == ("direct", "same_table")
    assert rates["EUR"]["legs"]["EUR"]["effective_date"] == "2026-04-01"


def test_nbkr_kzt_kgs_is_its_own_cross_and_differs_from_the_dollar_derived_one(tables: TestClient) -> None:
    params = {"base": "KGS", "currencies": "KZT"}
    direct = exact(tables.get("/rates/on/2026-05-24", params={**params, "source": "nbkr"}))["rates"][0]
    # NBKR publishes 0.1859 som per tenge: that is the rate, not one crossed through two banks' dollar rates.
    assert direct["inverse"] == Decimal("0.1859")
    assert direct["rate"] == DERIVED.divide(1, Decimal("0.1859"))
    assert direct["method"] == "direct"
    assert {code: leg["value"] for code, leg in direct["legs"].items()} == {"KZT": "87.4500/0.1859", "KGS": "87.4500"}
    derived = exact(tables.get("/rates/latest", params=params))["rates"][0]
    # The best legs: NBK's tenge (478.77 per USD) over NBKR's som (87.45 per USD).
    assert (derived["method"], derived["source"], derived["legs"]["KGS"]["source"]) == ("via_usd", "nbk", "nbkr")
    assert derived["rate"] == DERIVED.divide(Decimal("478.77"), Decimal("87.4500"))
    # 478.77 / 87.45 - 1 / 0.1859: the official cross is 1.75% below the one through two dollar rates.
    assert derived["rate"] - direct["rate"] == Decimal("0.09554944329980")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/rates/latest", {}),
        ("/rates/on/2026-05-24", {}),
        ("/rates/daily", {"start": "2026-05-24", "end": "2026-05-25"}),
        ("/rates/at/2026-05-24T12:00:00Z", {}),
        ("/rates/KGS/history", {"start": "2026-05-24", "end": "2026-05-25"}),
        ("/rates/KGS/history", {"start": "2026-05-24", "end": "2026-05-25", "interval": "1d"}),
        ("/rates/KGS/change", {"start": "2026-05-24T01:00:00Z", "end": "2026-05-24T02:00:00Z"}),
        ("/rates/changes", {"start": "2026-05-24T01:00:00Z", "end": "2026-05-24T02:00:00Z"}),
        ("/rates/export.csv", {"start": "2026-05-24", "end": "2026-05-25"}),
    ],
)
def test_base_rub_works_on_every_endpoint(tables: TestClient, path: str, params: dict[str, str]) -> None:
    response = tables.get(path, params={**params, "base": "RUB", "source": "nbkr"})
    assert response.status_code == 200, response.text
    # KGS per rouble as NBKR fixed it on 24 May, whatever the shape of the answer.
    assert "1.2263" in response.text, response.text[:500]


def test_convert_roubles_to_somoni(tables: TestClient) -> None:
    body = exact(tables.get("/convert", params={"from": "RUB", "to": "KGS", "amount": "10000", "source": "nbkr"}))
    assert body["result"] == Decimal("12263")  # 10,000 x 1.2263 som per rouble, as NBKR fixed it


def test_currencies_say_who_quotes_what_in_what(tables: TestClient) -> None:
    listed = {c["code"]: c for c in exact(tables.get("/currencies"))["currencies"]}
    rub = listed["RUB"]
    assert (rub["name"], rub["minor_digits"], rub["authoritative_source"]) == ("Russian Ruble", 2, None)
    assert [(q["source"], q["quoted_in"]) for q in rub["quoted_by"]] == [("nbk", "KZT"), ("nbkr", "KGS")]
    assert [(q["source"], q["quoted_in"]) for q in listed["KZT"]["quoted_by"]] == [("nbk", "USD"), ("nbkr", "KGS")]


def test_a_currency_outside_the_served_set_is_not_stored(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, currencies="KZT,RUB")
    when = at("2026-04-01T04:00")
    process(engine, settings, nbk.SPEC, NBK_APRIL_1.read_bytes(), observed_at=when, started_at=when)
    with Session(engine) as session:
        assert sorted(s.currency for s in session.exec(select(RateSpan))) == ["KZT", "RUB"]


def test_a_bank_keeps_no_pair_rollups_when_its_table_is_confirmed(engine: Engine, database_url: str) -> None:
    # The second poll confirms every row's open span: the common poll, which moved pair rows before 0010.
    for minutes in (0, 30):
        _ingest(engine, database_url, nbk.SPEC, NBK_APRIL_1.name, at("2026-04-01T04:00") + timedelta(minutes=minutes))
    with engine.connect() as conn:
        assert pairs.stored(conn) == [] and pairs.stored_days(conn) == []
    assert_rollups_current(engine)


def test_without_source_a_cross_of_the_day_is_the_banks_own(engine: Engine, database_url: str) -> None:
    """NBK's and NBKR's tables both fixed for 24 May: KZT's best source is NBK and KGS's NBKR, but in base KGS the
    tenge is answered with NBKR's own som per tenge, not with NBK's tenge over NBKR's som through the dollar."""
    when = at("2026-05-24T00:30")
    body = NBK_APRIL_1.read_bytes().replace(b"01.04.2026", b"24.05.2026")
    outcome = process(engine, make_settings(database_url), nbk.SPEC, body, observed_at=when, started_at=when)
    assert outcome.ok
    _ingest(engine, database_url, nbkr.SPEC, NBKR_MAY_24.name, when)
    with (
        freeze_time(when + timedelta(hours=2)),
        TestClient(create_app(make_settings(database_url, role="api"))) as client,
    ):
        in_usd = exact(client.get("/rates/latest", params={"currencies": "KZT,KGS"}))
        in_kgs = exact(client.get("/rates/latest", params={"currencies": "KZT,RUB", "base": "KGS"}))
    assert [(r["currency"], r["source"]) for r in in_usd["rates"]] == [("KGS", "nbkr"), ("KZT", "nbk")]
    kzt, rub = in_kgs["rates"]
    assert (kzt["method"], kzt["source"], kzt["inverse"]) == ("direct", "nbkr", Decimal("0.1859"))
    assert (rub["method"], rub["source"], rub["inverse"]) == ("direct", "nbkr", Decimal("1.2263"))
