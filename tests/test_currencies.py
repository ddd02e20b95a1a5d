"""`/currencies`: names, official sources and the stored range of each configured currency."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.api.app import create_app
from tests.series import query_settings, serve


def test_currencies_with_their_data(engine: Engine, database_url: str) -> None:
    with serve(engine, database_url) as client:
        response = client.get("/currencies")
        again = client.get("/currencies", headers={"If-None-Match": response.headers["etag"]})
    assert response.status_code == 200
    assert response.json() == {
        "currencies": [
            {
                "code": "KGS",
                "name": "Kyrgyz som",
                "authoritative_source": "nbkr",
                "sources": ["ticker"],
                "first_date": "2026-01-01",
                "last_date": "2026-01-01",
            },
            {
                "code": "KZT",
                "name": "Kazakh tenge",
                "authoritative_source": "nbk",
                "sources": ["erapi"],
                "first_date": "2025-12-30",
                "last_date": "2026-01-01",
            },
            {
                "code": "TJS",
                "name": "Tajik somoni",
                "authoritative_source": "nbt",
                "sources": [],
                "first_date": None,
                "last_date": None,
            },
            {
                "code": "UZS",
                "name": "Uzbek sum",
                "authoritative_source": "cbu",
                "sources": ["cbu"],
                "first_date": "2025-12-30",
                "last_date": "2026-01-01",
            },
            {
                "code": "TMT",
                "name": "Turkmen manat",
                "authoritative_source": "cbt",
                "sources": [],
                "first_date": None,
                "last_date": None,
            },
        ]
    }
    assert response.headers["cache-control"].startswith("public, max-age=")
    assert again.status_code == 304


def test_only_configured_currencies_are_listed(database_url: str, engine: Engine) -> None:
    with TestClient(create_app(query_settings(database_url, currencies="UZS,KZT"))) as client:
        body = client.get("/currencies").json()
    assert [c["code"] for c in body["currencies"]] == ["UZS", "KZT"]
