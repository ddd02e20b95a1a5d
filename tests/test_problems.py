"""Every error is a problem document (RFC 9457) of a stable `type`: one test per type the API gives in-process (the
503s, 500, 414 and 431 have theirs in test_db_outages.py, test_unexpected.py and test_request_limits.py), one
status per kind of mistake wherever it is made, and the OpenAPI document that declares them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.api.app import create_app
from app.api.problems import KINDS, PROBLEM_JSON, TYPE_BASE
from tests.series import query_settings, serve
from tests.support import detail_of, problem

CODES = "KGS, KZT, TJS, UZS, TMT"
DOCS = Path(__file__).parent.parent / "docs" / "api.md"


@pytest.fixture
def client(engine: Engine, database_url: str) -> Iterator[TestClient]:
    with serve(engine, database_url) as client:
        yield client


def _parameters(document: dict[str, Any]) -> list[str]:
    return [error["parameter"] for error in document.get("errors", [])]


def test_an_unknown_currency_is_one_422_in_the_path_and_in_the_query(client: TestClient) -> None:
    asked = {
        "/rates/GBP/history": "currency",
        "/rates/GBP/change": "currency",
        "/rates/GBP/history?format=csv": "currency",
        "/rates/latest?currencies=GBP": "currencies",
        "/rates/ticker.txt?currencies=GBP": "currencies",
        "/rates/export.csv?currencies=GBP": "currencies",
        "/rates/latest?base=GBP": "base",
        "/convert?from=GBP&to=KZT&amount=1": "from",
        "/convert?from=KZT&to=GBP&amount=1": "to",
    }
    for path, parameter in asked.items():
        response = client.get(path)
        assert response.status_code == 422, path
        document = problem(response, "unknown-currency")
        assert document["title"] == "Unknown currency" and "'GBP'" in document["detail"], path
        assert document["errors"] == [{"parameter": parameter, "detail": document["detail"]}], path
        assert response.headers["cache-control"] == "no-store" and response.headers["x-content-type-options"]


def test_a_bad_value_names_its_parameter(client: TestClient) -> None:
    asked = {
        "/rates/KZT/history?tz=Asia/Nowhere&interval=1d": ["tz"],
        "/rates/KZT/history?start=yesterday": ["start"],
        "/rates/KZT/history?interval=2h": ["interval"],
        "/rates/at/2999-01-01": ["when"],
        "/rates/at/%20": ["when"],
        "/rates/ticker.txt?decimals=99": ["decimals"],
        "/convert?from=KZT&to=UZS&amount=-5": ["amount"],
        "/rates/KZT/change?period=2d": ["period"],
    }
    for path, parameters in asked.items():
        response = client.get(path)
        assert response.status_code == 422, path
        assert _parameters(problem(response, "invalid-parameter")) == parameters, path


def test_parameters_that_cannot_go_together_are_all_named(client: TestClient) -> None:
    asked = {
        "/rates/KZT/history?base=KZT": ["currency", "base"],
        "/rates/changes?base=KZT&currencies=KZT": ["currencies", "base"],  # the change of a constant
        "/rates/KZT/history?start=2026-01-02&end=2026-01-01": ["start", "end"],
        "/rates/KZT/change?period=24h&start=2026-01-01": ["period", "start"],
        "/rates/KZT/history?tz=Asia/Almaty": ["tz", "interval"],
    }
    for path, parameters in asked.items():
        response = client.get(path)
        assert response.status_code == 422, path
        assert _parameters(problem(response, "conflicting-parameters")) == parameters, path


def test_an_unknown_source_and_too_many_points(client: TestClient) -> None:
    source = client.get("/rates/latest", params={"source": "bloomberg"})
    assert source.status_code == 422 and _parameters(problem(source, "unknown-source")) == ["source"]
    many = client.get("/rates/KZT/history", params={"start": "2000-01-01", "end": "2026-01-01", "interval": "1h"})
    assert many.status_code == 422 and "buckets, more than the limit" in detail_of(many, "too-many-points")
    csv = client.get("/rates/export.csv", params={"start": "2000-01-01", "end": "2026-01-01", "interval": "1h"})
    assert csv.status_code == 422 and detail_of(csv, "too-many-points")


def test_no_data_is_one_answer_on_every_endpoint_for_one_currency(client: TestClient) -> None:
    """TJS has no data at all; KZT has none before 2025-12-30."""
    asked = [
        "/rates/TJS/history",
        "/rates/TJS/history?format=csv",
        "/rates/TJS/change",
        "/rates/KZT/change?start=2020-01-01&end=2020-01-02",
        "/convert?from=TJS&to=USD&amount=1",
        "/convert?from=KZT&to=UZS&amount=1&at=2025-01-01",
    ]
    for path in asked:
        response = client.get(path)
        assert response.status_code == 404, path
        document = problem(response, "no-data")
        assert document["title"] == "No data" and "errors" not in document, path


def test_an_unknown_path_and_method(client: TestClient) -> None:
    missing = client.get("/rates/KZT/nothing-here")
    assert missing.status_code == 404 and detail_of(missing, "not-found")
    static = client.get("/static/no-such-file.js")
    assert static.status_code == 404 and detail_of(static, "not-found")
    wrong = client.post("/rates/latest")
    assert wrong.status_code == 405 and "GET" in wrong.headers["allow"]
    assert "GET" in detail_of(wrong, "method-not-allowed")


def test_the_admin_endpoint_answers_problems(engine: Engine, database_url: str) -> None:
    settings = query_settings(database_url, admin_token="secret")
    with TestClient(create_app(settings)) as client:
        missing = client.post("/admin/poll")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert detail_of(missing, "admin-token-required")
        wrong = client.post("/admin/poll", headers={"Authorization": "Bearer nope"})
        assert detail_of(wrong, "admin-token-wrong") == "wrong admin token"
        elsewhere = client.post("/admin/poll", headers={"Authorization": "Bearer secret"})
        assert elsewhere.status_code == 409 and detail_of(elsewhere, "not-polling")


def test_the_openapi_document_declares_the_problems(database_url: str) -> None:
    spec = create_app(query_settings(database_url)).openapi()
    schemas = spec["components"]["schemas"]
    assert schemas["Problem"]["required"] == ["type", "title", "status", "detail"]
    assert not {"ErrorBody", "HTTPValidationError", "ValidationError"} & schemas.keys()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert responses["default"]["content"] == {
                PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
            for code, declared in responses.items():
                if code.isdigit() and int(code) >= 400 and path != "/ready":
                    assert list(declared["content"]) == [PROBLEM_JSON], (method, path, code)


def test_the_api_page_lists_every_type_with_its_status() -> None:
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| (\d{3}) \|", DOCS.read_text(), flags=re.MULTILINE))
    assert rows == {kind.name: str(kind.status) for kind in KINDS}
    assert all(kind.type == TYPE_BASE + kind.name for kind in KINDS)
