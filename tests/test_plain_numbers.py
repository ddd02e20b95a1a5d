"""Numbers are written plainly everywhere: the inverse of the ticker's UZS 0.00008 is 12500, never 1.25E+4."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.api.app import create_app
from app.core.clock import utcnow
from app.ingest.pipeline import process
from app.sources.ticker import SPEC
from tests.series import serve, span
from tests.support import SEED_PAGE, make_settings


@pytest.fixture
def client(engine: Engine, database_url: str) -> Iterator[TestClient]:
    settings = make_settings(database_url, role="api")
    now = utcnow()
    process(engine, settings, SPEC, SEED_PAGE.read_bytes(), observed_at=now, started_at=now)
    with TestClient(create_app(settings)) as client:
        yield client


def test_the_inverse_of_0_00008_is_12500_in_json_and_csv(client: TestClient) -> None:
    latest = client.get("/rates/latest?currencies=UZS").content
    assert b'"rate":12500,' in latest and b"E+" not in latest
    history = client.get("/rates/UZS/history").content
    assert b'"rate":12500,' in history and b"E+" not in history
    csv = client.get("/rates/export.csv?currencies=UZS").text
    assert ",UZS,USD/UZS,12500,0.00008,ticker" in csv and "E+" not in csv
    buckets = client.get("/rates/export.csv?currencies=UZS&interval=1h").text
    assert ",UZS,USD/UZS,12500,12500,0.00008,ticker" in buckets and "E+" not in buckets


def test_a_rate_below_a_millionth_is_written_plainly_in_every_csv(engine: Engine, database_url: str) -> None:
    """Decimal's own str() writes 0.00000025 as 2.5E-7: every CSV writes the digits out, as JSON does."""
    day = utcnow().date() - timedelta(days=1)
    first, last = datetime.combine(day, time(1), UTC), datetime.combine(day, time(20), UTC)
    with serve(engine, database_url, [span("UZS", "cbu", "4000000", True, first, last, effective_date=day)]) as client:
        on_date = client.get(f"/rates/on/{day}", params={"currencies": "UZS", "format": "csv"}).text
        frankfurter = client.get("/frankfurter/v2/rates.csv", params={"base": "UZS", "quotes": "USD", "date": str(day)})
    assert ",UZS,USD,USD/UZS,4000000,0.00000025,cbu," in on_date and "E-" not in on_date
    assert frankfurter.status_code == 200, frankfurter.text
    assert f"{day},UZS,USD,0.00000025" in frankfurter.text and "E-" not in frankfurter.text
