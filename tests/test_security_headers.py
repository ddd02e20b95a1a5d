"""Every answer carries the security headers that fit it: nothing sniffed, API answers and the dashboard not
framed by other sites, the widget framable by any."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.api.app import create_app
from app.core.settings import Settings
from tests.support import SEED_PAGE
from tests.test_api_latest import ingest


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    ingest(engine, settings, SEED_PAGE.read_bytes(), minutes_ago=2)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize(
    "path",
    [
        "/rates/latest",
        "/rates/KZT/history?interval=1h",
        "/rates/export.csv",
        "/rates/ticker.txt",
        "/currencies",
        "/rates/latest?currencies=XXX",  # a 422
        "/no/such/path",  # a 404
    ],
)
def test_api_answers_are_neither_sniffed_nor_framed(client: TestClient, path: str) -> None:
    for _ in range(2):  # the second /rates/latest comes from the fast path
        response = client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"


def test_the_dashboard_is_not_framed_and_the_widget_may_be(client: TestClient) -> None:
    dashboard, widget = client.get("/"), client.get("/widget/ticker")
    assert "frame-ancestors 'none'" in dashboard.headers["content-security-policy"]
    assert dashboard.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors *" in widget.headers["content-security-policy"]
    assert "x-frame-options" not in widget.headers
    assert widget.headers["x-content-type-options"] == "nosniff"
