"""`symbols=`, the name Fixer and Open Exchange Rates give the currency list, answers exactly as `currencies=` on
every endpoint that takes one (the fast path of /rates/latest included); both names saying different things is a
422 that names both; the OpenAPI document lists it."""

from __future__ import annotations

from sqlalchemy import Engine

from tests.series import serve
from tests.test_rates_on_date import ALL

PATHS = [
    "/rates/latest?{}=KZT",
    "/v1/rates/latest?{}=KZT,UZS&base=KZT",
    "/rates/at/2026-04-02T12:00?{}=KZT",
    "/v1/rates/on/2026-04-04?{}=KZT",
    "/rates/daily?start=2026-04-01&end=2026-04-03&{}=UZS",
    "/rates/history?start=2026-04-01&end=2026-04-03&interval=1d&{}=KZT",
    "/rates/export.csv?start=2026-04-01&end=2026-04-03&{}=KZT",
]


def test_symbols_answers_as_currencies_everywhere(engine: Engine, database_url: str) -> None:
    with serve(engine, database_url, ALL) as client:
        for path in PATHS:
            for _ in range(2):  # the second /rates/latest comes from the fast path
                named = client.get(path.format("currencies"))
                aliased = client.get(path.format("symbols"))
                assert named.status_code == 200, (path, named.text)
                assert (aliased.status_code, aliased.content) == (200, named.content), path
                assert aliased.headers["etag"] == named.headers["etag"], path


def test_both_names_saying_different_things_is_a_422_naming_both(engine: Engine, database_url: str) -> None:
    with serve(engine, database_url, ALL) as client:
        clash = client.get("/rates/latest?currencies=KZT&symbols=UZS")
        agreeing = client.get("/rates/latest?currencies=KZT&symbols=KZT")
        unknown = client.get("/rates/latest?symbols=GBP")
    assert clash.status_code == 422
    assert clash.headers["content-type"] == "application/problem+json"
    assert clash.headers["x-content-type-options"] == "nosniff"
    assert [e["parameter"] for e in clash.json()["errors"]] == ["currencies", "symbols"]
    assert agreeing.status_code == 200 and [r["currency"] for r in agreeing.json()["rates"]] == ["KZT"]
    assert unknown.status_code == 422 and "GBP" in unknown.json()["detail"]


def test_the_document_lists_symbols_beside_currencies(engine: Engine, database_url: str) -> None:
    with serve(engine, database_url, ALL) as client:
        spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            names = [p["name"] for p in operation.get("parameters", [])]
            assert ("currencies" in names) == ("symbols" in names) or path.startswith("/frankfurter/"), path
    latest = spec["paths"]["/v1/rates/latest"]["get"]["parameters"]
    assert any(p["name"] == "symbols" and "same as `currencies`" in p["description"] for p in latest)
