"""One freshness rule and one value type, seen through every endpoint: they agree on the same quote."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from freezegun import freeze_time
from sqlalchemy import Engine

from app.api.app import create_app
from app.core.settings import Settings
from app.domain.quotes import Quote
from app.domain.values import Value
from app.ingest.pipeline import store_quotes
from tests.support import at, make_settings

PUBLISHED = at("2026-03-02T03:00")  # a Monday: NBK's rate for the day, then nothing more


def _store(engine: Engine, settings: Settings, source: str, quote: Quote) -> None:
    store_quotes(engine, settings, source, [quote], started_at=quote.observed_at, entries_seen=1)


@pytest.fixture
def settings(engine: Engine, database_url: str) -> Settings:
    settings = make_settings(database_url, role="api", sources=["nbk", "erapi"])
    kzt = Quote("KZT", "nbk", Value(Decimal("478.77"), per_usd=True), PUBLISHED, effective_date=PUBLISHED.date())
    _store(engine, settings, "nbk", kzt)
    return settings


@pytest.mark.parametrize(
    ("now", "stale", "in_force"),
    [
        (PUBLISHED + timedelta(days=1), False, True),  # fresh
        (PUBLISHED + timedelta(days=6), True, True),  # past the stale bound (effective date 4 days old), carried
        (PUBLISHED + timedelta(days=10), True, False),  # past the carry bound (8 days unseen): nothing in force
    ],
)
def test_every_endpoint_agrees_on_the_same_quote(
    settings: Settings, now: datetime, stale: bool, in_force: bool
) -> None:
    with freeze_time(now, real_asyncio=True), TestClient(create_app(settings)) as client:
        (latest,) = client.get("/rates/latest").json()["rates"]
        assert (latest["source"], latest["stale"]) == ("nbk", stale)
        converted = client.get("/convert", params={"from": "KZT", "to": "USD", "amount": "1"}).json()
        assert converted["sources"]["KZT"]["stale"] is stale
        day = now.replace(hour=0)
        points = client.get("/rates/KZT/history", params={"interval": "1d", "start": day.isoformat()}).json()["points"]
        (today,) = points
        assert (today["close"] is not None) is in_force, today


def test_a_source_that_changes_direction_moves_by_rates_not_by_digits(engine: Engine, database_url: str) -> None:
    """480 KZT per USD, then 0.002 USD per KZT: the rate (tenge per dollar) rose from 480 to 500, 4.1666... %."""
    settings = make_settings(database_url, role="api", sources=["erapi"], erapi_plan="licensed")
    first, then = at("2026-03-02T03:00"), at("2026-03-02T04:00")
    _store(engine, settings, "erapi", Quote("KZT", "erapi", Value(Decimal("480"), per_usd=True), first))
    _store(engine, settings, "erapi", Quote("KZT", "erapi", Value(Decimal("0.002"), per_usd=False), then))
    with freeze_time(then + timedelta(minutes=5), real_asyncio=True), TestClient(create_app(settings)) as client:
        (latest,) = client.get("/rates/latest").json()["rates"]
        assert latest["rate"] == 500 and latest["previous_rate"] == 480
        change = client.get("/rates/KZT/change", params={"start": first.isoformat(), "end": then.isoformat()}).json()
    assert latest["change_pct"] == change["change_pct"] == 4.166667
