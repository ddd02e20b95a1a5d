"""`/rates/latest` as a dashboard sees it: the contract, ETag/304, subsets, errors, and replicas catching up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.api.app import create_app
from app.core.clock import utcnow
from app.core.settings import Settings
from app.ingest.pipeline import process
from app.sources.ticker import SPEC
from tests.support import SEED_PAGE, make_settings, problem


def ingest(engine: Engine, settings: Settings, body: bytes, minutes_ago: float) -> None:
    when = utcnow() - timedelta(minutes=minutes_ago)
    process(engine, settings, SPEC, body, observed_at=when, started_at=when)


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def test_latest_after_the_seed_page(engine: Engine, settings: Settings) -> None:
    ingest(engine, settings, SEED_PAGE.read_bytes(), minutes_ago=2)
    with TestClient(create_app(settings)) as client:
        response = client.get("/rates/latest")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["base"] == "USD"
    assert [r["currency"] for r in body["rates"]] == ["KGS", "KZT", "TJS", "UZS", "TMT"]
    kgs, _, tjs, uzs, _ = body["rates"]
    # Units of the currency per one USD, as every rates API answers base=USD; the ticker's own digits in inverse.
    assert kgs["pair"] == "USD/KGS"
    assert kgs["rate"] == 87.4125874125874
    assert kgs["inverse"] == 0.01144
    assert uzs["rate"] == 12500
    assert tjs["source_change_pct"] == -0.09  # what the ticker printed, about its own TJS/USD
    assert "reported_change_pct" not in tjs
    assert kgs["source"] == "ticker"
    assert kgs["previous_rate"] is None and kgs["change_pct"] is None
    assert kgs["effective_date"] is None
    assert kgs["stale"] is False
    assert kgs["since"] == kgs["last_seen"] == body["as_of"]
    assert body["as_of"].endswith("Z")
    # The exact digits the source printed, not a float's idea of them.
    assert b'"inverse":0.00008,' in response.content and b'"inverse":0.10567,' in response.content


def test_a_changed_value_shows_previous_rate_and_change(engine: Engine, settings: Settings) -> None:
    seed = SEED_PAGE.read_bytes()
    ingest(engine, settings, seed, minutes_ago=10)
    ingest(engine, settings, seed.replace(b"0.01144", b"0.01150"), minutes_ago=5)
    with TestClient(create_app(settings)) as client:
        kgs = client.get("/rates/latest", params={"currencies": "KGS"}).json()["rates"][0]
    assert kgs["rate"] == 86.9565217391304
    assert kgs["previous_rate"] == 87.4125874125874
    # Of rate as written: (1/0.01150 - 1/0.01144) / (1/0.01144) * 100, on the exact values, six decimals
    assert kgs["change_pct"] == -0.521739


def test_etag_and_conditional_get(engine: Engine, settings: Settings) -> None:
    ingest(engine, settings, SEED_PAGE.read_bytes(), minutes_ago=1)
    with TestClient(create_app(settings)) as client:
        first = client.get("/rates/latest")
        etag = first.headers["etag"]
        assert first.headers["cache-control"].startswith("public, max-age=")
        assert 0 <= int(first.headers["cache-control"].rsplit("=", 1)[1]) <= settings.source_interval("ticker")
        again = client.get("/rates/latest", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert client.get("/rates/latest", headers={"If-None-Match": '"other"'}).status_code == 200
        subset = client.get("/rates/latest?currencies=KZT")
        assert subset.headers["etag"] != etag


def test_currency_subset_keeps_configured_order_and_is_case_insensitive(engine: Engine, settings: Settings) -> None:
    ingest(engine, settings, SEED_PAGE.read_bytes(), minutes_ago=1)
    with TestClient(create_app(settings)) as client:
        body = client.get("/rates/latest", params={"currencies": "uzs, KZT"}).json()
    assert [r["currency"] for r in body["rates"]] == ["KZT", "UZS"]


def test_unknown_currency_is_a_422_listing_valid_codes(client: TestClient) -> None:
    response = client.get("/rates/latest", params={"currencies": "KZT,GBP"})
    assert response.status_code == 422
    assert problem(response, "unknown-currency") == {
        "type": "https://fx-ticker.dev/problems/unknown-currency",
        "title": "Unknown currency",
        "status": 422,
        "detail": "parameter 'currencies': unknown currency 'GBP'; valid codes: KGS, KZT, TJS, UZS, TMT, RUB, EUR, CNY",
        "errors": [
            {
                "parameter": "currencies",
                "detail": "parameter 'currencies': unknown currency 'GBP'; valid codes: "
                "KGS, KZT, TJS, UZS, TMT, RUB, EUR, CNY",
            }
        ],
    }


def test_no_data_yet_gives_an_empty_list(client: TestClient) -> None:
    response = client.get("/rates/latest")
    assert response.status_code == 200
    assert response.json() == {"base": "USD", "as_of": None, "rates": []}


def test_a_source_that_missed_several_polls_is_stale(engine: Engine, settings: Settings) -> None:
    ingest(engine, settings, SEED_PAGE.read_bytes(), minutes_ago=60)
    with TestClient(create_app(settings)) as client:
        rates = client.get("/rates/latest").json()["rates"]
    assert {r["stale"] for r in rates} == {True}


def test_an_api_replica_notices_writes_by_another_process(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, role="api", refresh_seconds=0.1)
    with TestClient(create_app(settings)) as client:
        assert client.get("/rates/latest").json()["rates"] == []
        ingest(engine, settings, SEED_PAGE.read_bytes(), minutes_ago=0)  # as the poller process would
        deadline = time.monotonic() + 5
        while not client.get("/rates/latest").json()["rates"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(client.get("/rates/latest").json()["rates"]) == 5


def test_health(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}


def test_openapi_documents_latest(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/rates/latest"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["currencies", "source", "base", "symbols"]
    assert "304" in operation["responses"] and "422" in operation["responses"]


def test_the_fast_path_serves_a_known_query_and_forgets_it_when_data_changes(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, role="api", refresh_seconds=0.1)
    ingest(engine, settings, SEED_PAGE.read_bytes(), minutes_ago=2)
    with TestClient(create_app(settings)) as client:
        service = client.app.state.latest  # type: ignore[attr-defined]
        first = client.get("/rates/latest?currencies=KGS")
        assert service.answered(b"currencies=KGS") is not None  # the route filled the fast path
        again = client.get("/rates/latest?currencies=KGS")  # served by the fast path
        assert (again.content, again.headers["etag"]) == (first.content, first.headers["etag"])
        assert again.headers["content-type"] == "application/json"
        assert int(again.headers["content-length"]) == len(first.content)
        for name in ("x-content-type-options", "x-frame-options"):  # the same headers as the route's
            assert again.headers[name] == first.headers[name], name
        assert (
            client.get("/rates/latest?currencies=KGS", headers={"If-None-Match": first.headers["etag"]}).status_code
            == 304
        )
        # Bad input is never cached: it goes through validation every time.
        assert client.get("/rates/latest?currencies=XXX").status_code == 422
        assert client.get("/rates/latest?currencies=XXX").status_code == 422
        # New data: a new snapshot, and the fast path no longer knows the old answer.
        ingest(engine, settings, SEED_PAGE.read_bytes().replace(b"0.01144", b"0.01150"), minutes_ago=1)
        deadline = time.monotonic() + 5
        while service.answered(b"currencies=KGS") is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        changed = client.get("/rates/latest?currencies=KGS")
        assert changed.headers["etag"] != first.headers["etag"]
        assert changed.json()["rates"][0]["inverse"] == 0.0115
