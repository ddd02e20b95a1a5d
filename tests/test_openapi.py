"""The OpenAPI document is a valid OpenAPI 3.1 document, and its operationIds are the route functions' names:
part of the /v1 contract, since a generated client names its functions after them."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from app.api.app import create_app
from app.sources.registry import load_settings

# Every route the document can hold: POST /admin/poll with a token, /metrics on the served port.
APP = create_app(load_settings(database_url="sqlite://", role="api", admin_token="x" * 32, metrics_port=0))

# The contract: renaming a route function renames a generated client's function, so it shows here first.
# Frankfurter's endpoint set (functions `v1_latest`, `v2_rates`, …) is prefixed with whose versions those are.
OPERATION_IDS = {
    ("get", "/v1/rates/latest"): "rates_latest",
    ("get", "/v1/rates/ticker.txt"): "ticker_text",
    ("get", "/v1/rates/stream"): "rates_stream",
    ("get", "/v1/rates/at/{when}"): "at",
    ("get", "/v1/rates/on/{date}"): "on_date",
    ("get", "/v1/rates/daily"): "daily",
    ("get", "/v1/sources"): "sources",
    ("get", "/v1/currencies"): "currencies",
    ("get", "/v1/rates/{currency}/history"): "history",
    ("get", "/v1/rates/history"): "histories",
    ("get", "/v1/rates/{currency}/change"): "change",
    ("get", "/v1/rates/changes"): "changes",
    ("get", "/v1/rates/export.csv"): "export_csv",
    ("get", "/v1/convert"): "convert",
    ("get", "/frankfurter/v1/latest"): "frankfurter_v1_latest",
    ("get", "/frankfurter/v1/currencies"): "frankfurter_v1_currencies",
    ("get", "/frankfurter/v1/{period}"): "frankfurter_v1_period",
    ("get", "/frankfurter/v2/rates"): "frankfurter_v2_rates",
    ("get", "/frankfurter/v2/rates.csv"): "frankfurter_v2_rates_csv",
    ("get", "/frankfurter/v2/rate/{base}/{quote}"): "frankfurter_v2_rate",
    ("get", "/frankfurter/v2/currencies"): "frankfurter_v2_currencies",
    ("get", "/frankfurter/v2/currency/{code}"): "frankfurter_v2_currency",
    ("get", "/frankfurter/v2/providers"): "frankfurter_v2_providers",
    ("get", "/health"): "health",
    ("get", "/ready"): "ready",
    ("get", "/metrics"): "prometheus",
    ("post", "/admin/poll"): "poll_now",
}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return APP.openapi()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def test_the_document_validates_against_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1.")
    validate(spec, cls=OpenAPIV31SpecValidator)  # raises on the first error


def test_every_operation_has_its_route_function_name_as_its_operation_id(spec: dict[str, Any]) -> None:
    ids = {(method, path): op["operationId"] for method, path, op in _operations(spec)}
    assert ids == OPERATION_IDS
    assert len(set(ids.values())) == len(ids), "operationIds are unique across the document"
