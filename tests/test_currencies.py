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

    def listed(code: str, name: str, official: str | None, ranges: dict[str, tuple[str, str]]) -> dict[str, object]:
        quoted_by = [{"source": s, "quoted_in": "USD", "first_date": a, "last_date": b} for s, (a, b) in ranges.items()]
        firsts, lasts = [a for a, _ in ranges.values()], [b for _, b in ranges.values()]
        return {"code": code, "name": name, "minor_digits": 2, "authoritative_source": official,
                "sources": list(ranges), "quoted_by": quoted_by,
                "first_date": min(firsts, default=None), "last_date": max(lasts, default=None)}  # fmt: skip

    # The hand-built series: the ticker's KGS, erapi's KZT, CBU's UZS; names from CLDR, served by default.
    assert response.json() == {
        "currencies": [
            listed("KGS", "Kyrgyz Som", "nbkr", {"ticker": ("2026-01-01", "2026-01-01")}),
            listed("KZT", "Kazakhstani Tenge", "nbk", {"erapi": ("2025-12-30", "2026-01-01")}),
            listed("TJS", "Tajikistani Somoni", "nbt", {}),
            listed("UZS", "Uzbekistani Som", "cbu", {"cbu": ("2025-12-30", "2026-01-01")}),
            listed("TMT", "Turkmenistani Manat", "cbt", {}),
            listed("RUB", "Russian Ruble", None, {}),
            listed("EUR", "Euro", None, {}),
            listed("CNY", "Chinese Yuan", None, {}),
        ]
    }
    assert response.headers["cache-control"].startswith("public, max-age=")
    assert again.status_code == 304


def test_only_configured_currencies_are_listed(database_url: str, engine: Engine) -> None:
    with TestClient(create_app(query_settings(database_url, currencies="UZS,KZT"))) as client:
        body = client.get("/currencies").json()
    assert [c["code"] for c in body["currencies"]] == ["UZS", "KZT"]
