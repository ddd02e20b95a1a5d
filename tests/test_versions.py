"""`/v1` is the stable contract: every data endpoint answers under it, and at its unversioned path exactly as
under `/v1` (status, body, headers); the OpenAPI document lists the `/v1` paths; operations stay at the root."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from app.api.app import create_app
from app.api.version import V1
from tests.series import insert_spans, query_settings, series_rows, serve

# A value for each parameter that makes every endpoint answer with data from the hand-built series, at fixed
# times (an answer about a window that ends now could change between the two requests).
VALUES = {
    "currency": "KZT",
    "when": "2026-01-01T02:00",
    "start": "2026-01-01T00:00",
    "end": "2026-01-01T03:00",
    "at": "2026-01-01T02:00",
    "from": "KZT",
    "to": "UZS",
    "amount": "1000",
    "date": "2026-01-01",
}
# The rate for a date takes dates, not instants.
DATES = {"/v1/rates/daily": {"start": "2026-01-01", "end": "2026-01-02"}}
COMPARED = ("content-type", "etag", "cache-control", "content-disposition", "x-content-type-options")


@pytest.fixture
def client(engine: Engine, database_url: str) -> Iterator[TestClient]:
    with serve(engine, database_url) as client:
        yield client


def _requests(spec: dict[str, Any]) -> Iterator[str]:
    """Every GET of the document but the stream (it never ends), its parameters filled from VALUES."""
    for template, operations in spec["paths"].items():
        operation = operations.get("get")
        if operation is None or not template.startswith(V1 + "/") or template == V1 + "/rates/stream":
            continue
        path, query = template, {}
        for parameter in operation.get("parameters", []):
            name = parameter["name"]
            if parameter["in"] == "path":
                path = path.replace("{" + name + "}", VALUES[name])
            elif name in DATES.get(template, {}):
                query[name] = DATES[template][name]
            elif name in VALUES:
                query[name] = VALUES[name]
        yield f"{path}?{urlencode(query)}" if query else path


def _same(client: TestClient, versioned: str) -> None:
    unversioned = versioned.removeprefix(V1)
    for method in ("GET", "HEAD"):
        first = client.request(method, versioned)
        second = client.request(method, unversioned)
        assert (first.status_code, first.content) == (second.status_code, second.content), (method, versioned)
        for name in COMPARED:
            assert first.headers.get(name) == second.headers.get(name), (method, versioned, name)


def test_the_document_lists_the_v1_data_endpoints_and_the_operations_at_the_root(client: TestClient) -> None:
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {"/health", "/ready"} <= paths
    frankfurter = {path for path in paths if path.startswith(("/frankfurter/v1/", "/frankfurter/v2/"))}
    assert "/frankfurter/v1/latest" in frankfurter and "/frankfurter/v2/rates" in frankfurter  # versioned their way
    data = paths - {"/health", "/ready"} - frankfurter
    assert len(data) >= 12 and all(path.startswith("/v1/") for path in data)
    assert "/v1/rates/latest" in data and "/v1/convert" in data and "/v1/rates/stream" in data


def test_every_data_endpoint_answers_identically_with_and_without_v1(client: TestClient) -> None:
    asked = list(_requests(client.get("/openapi.json").json()))
    assert len(asked) >= 11
    for path in asked:
        _same(client, path)
        assert client.get(path).status_code == 200, path
    _same(client, "/v1/rates/latest?currencies=KZT")  # the fast path's answer, once the route has given it


def test_errors_are_the_same_with_and_without_v1(client: TestClient) -> None:
    for path in (
        "/v1/rates/GBP/history",
        "/v1/rates/latest?currencies=GBP",
        "/v1/rates/stream?currencies=GBP",
        "/v1/rates/TJS/history",
        "/v1/convert?from=KZT&to=UZS&amount=-1",
    ):
        _same(client, path)
        assert client.get(path).status_code in (404, 422), path


def test_operations_stay_at_the_root(client: TestClient) -> None:
    for path in ("/health", "/ready", "/metrics", "/admin/poll", "/", "/docs"):
        assert client.get(V1 + path).status_code in (404, 405), path
    assert client.get("/health").status_code == 200


def _requests_counted(scraped: str) -> dict[str, float]:
    return {
        sample.labels["route"]: sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
        if sample.name == "fx_http_requests_total"
        and sample.labels["status"] == "200"
        and sample.labels["method"] == "GET"
    }


def test_requests_are_counted_by_the_path_form_they_used(engine: Engine, database_url: str) -> None:
    insert_spans(engine, series_rows())
    with TestClient(create_app(query_settings(database_url, metrics_port=0))) as client:
        before = _requests_counted(client.get("/metrics").text)
        for path in ("/v1/rates/latest", "/v1/rates/latest", "/rates/latest", "/v1/rates/KZT/history"):
            assert client.get(path).status_code == 200  # the second and third from the fast path
        after = _requests_counted(client.get("/metrics").text)
    counted = {route: after[route] - before.get(route, 0) for route in after}
    assert counted["/v1/rates/latest"] == 2 and counted["/rates/latest"] == 1
    assert counted["/v1/rates/{currency}/history"] == 1 and counted.get("<unmatched>", 0) == 0
