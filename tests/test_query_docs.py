"""/docs: every query endpoint with its parameters, response schema and an example; the body cache's bounds."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.api.app import create_app
from app.api.caching import BodyCache
from tests.support import make_settings

ENDPOINTS = {
    "/v1/rates/{currency}/history": ["currency", "format", "start", "end", "interval", "base", "tz", "source"],
    "/v1/rates/history": ["currencies", "start", "end", "interval", "base", "tz", "source", "symbols"],
    "/v1/rates/{currency}/change": ["currency", "period", "start", "end", "base", "source"],
    "/v1/rates/changes": ["period", "start", "end", "base", "source", "currencies", "symbols"],
    "/v1/rates/at/{when}": ["when", "currencies", "source", "base", "symbols"],
    "/v1/rates/export.csv": ["currencies", "start", "end", "interval", "base", "tz", "source", "symbols"],
    "/v1/convert": ["from", "to", "amount", "at", "source"],
    "/v1/currencies": [],
}


def _resolve(spec: dict, ref: str) -> dict:  # type: ignore[type-arg]
    schema: dict = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]  # type: ignore[type-arg]
    return schema


def test_openapi_documents_every_query_endpoint(engine: Engine, database_url: str) -> None:
    with TestClient(create_app(make_settings(database_url, role="api"))) as client:
        spec = client.get("/openapi.json").json()
        assert client.get("/docs").status_code == 200
    for path, parameters in ENDPOINTS.items():
        operation = spec["paths"][path]["get"]
        assert [p["name"] for p in operation.get("parameters", [])] == parameters, path
        assert all(p.get("description") for p in operation.get("parameters", [])), path
        assert operation["summary"] and "304" in operation["responses"], path
        content = operation["responses"]["200"]["content"]
        if "application/json" in content:
            schema = content["application/json"]["schema"]
            refs = [s["$ref"] for s in schema.get("anyOf", [schema])]
            assert all("example" in _resolve(spec, ref) for ref in refs), path
        if "text/csv" in content:
            assert content["text/csv"]["example"].startswith("timestamp,")
    for path in ("/v1/rates/{currency}/history", "/v1/rates/history", "/v1/rates/export.csv"):
        (interval,) = [p["schema"] for p in spec["paths"][path]["get"]["parameters"] if p["name"] == "interval"]
        assert interval["enum"] == ["raw", "1h", "1d", "1w", "1mo"], path


def test_the_body_cache_is_bounded() -> None:
    cache = BodyCache(entries=3, total=10, largest=6)
    renders: list[str] = []

    def body(key: str, size: int) -> bytes:
        return cache.get_or_render(key, lambda: renders.append(key) or b"x" * size)  # type: ignore[func-returns-value]

    body("a", 4)
    body("a", 4)
    assert renders == ["a"]
    body("b", 4)
    body("c", 4)  # 12 bytes > 10: the oldest goes
    body("a", 4)
    assert renders == ["a", "b", "c", "a"]
    body("big", 7)
    body("big", 7)  # too large to keep
    assert renders.count("big") == 2
