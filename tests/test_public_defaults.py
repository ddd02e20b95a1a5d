"""The defaults of a public read API: any origin may GET the data (never /admin, never with credentials), and
/metrics is not on the public port: `fx-ticker serve` answers it on a port of its own (FX_METRICS_PORT)."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from app.api.app import create_app
from app.sources.registry import settings_class
from tests.processes import Server
from tests.series import insert_spans, series_rows
from tests.support import detail_of, make_settings

ORIGIN = {"Origin": "https://dashboard.example.org"}


def test_the_defaults_allow_any_origin_and_keep_metrics_off_the_public_port() -> None:
    defaults = settings_class()(_env_file=None)
    assert defaults.cors_origins == ["*"]
    assert (defaults.metrics_port, defaults.metrics_host) == (9464, "127.0.0.1")


def test_any_origin_may_get_and_head_the_data_but_not_admin(engine: Engine, database_url: str) -> None:
    insert_spans(engine, series_rows())
    settings = make_settings(database_url, role="api", admin_token="secret")
    with TestClient(create_app(settings)) as client:
        answers = [
            client.get("/rates/latest", headers=ORIGIN),
            client.get("/rates/latest", headers=ORIGIN),  # the fast path's answer
            client.head("/rates/latest", headers=ORIGIN),
            client.get("/rates/KZT/history?start=2026-01-01&end=2026-01-02", headers=ORIGIN),
            client.get("/rates/GBP/history", headers=ORIGIN),  # an error is readable too
        ]
        preflight = client.options("/rates/latest", headers={**ORIGIN, "Access-Control-Request-Method": "GET"})
        admin = client.post("/admin/poll", headers={**ORIGIN, "Authorization": "Bearer secret"})
        admin_preflight = client.options(
            "/admin/poll", headers={**ORIGIN, "Access-Control-Request-Method": "POST"}
        )  # fmt: skip
        metrics = client.get("/metrics")
    for answer in answers:
        assert answer.headers["access-control-allow-origin"] == "*", answer.request.url
        assert "access-control-allow-credentials" not in answer.headers
    assert answers[0].status_code == 200 and answers[-1].status_code == 422
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "*"
    assert preflight.headers["access-control-allow-methods"] == "GET, HEAD"
    assert admin.status_code == 409 and "access-control-allow-origin" not in admin.headers
    assert "access-control-allow-origin" not in admin_preflight.headers
    assert metrics.status_code == 404 and detail_of(metrics, "not-found")


def test_an_empty_origin_list_allows_none(engine: Engine, database_url: str) -> None:
    insert_spans(engine, series_rows())
    with TestClient(create_app(make_settings(database_url, role="api", cors_origins=""))) as client:
        response = client.get("/rates/latest", headers=ORIGIN)
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.slow
def test_serve_answers_metrics_on_its_own_port_only(tmp_path: Path) -> None:
    """Two workers, as the compose file's api runs: each listens on the metrics port, and a scrape of any of them
    adds up both; the public port has no /metrics."""
    port = _free_port()
    env = {"FX_DATABASE_URL": f"sqlite:///{tmp_path / 'fx.db'}", "FX_ROLE": "api", "FX_METRICS_PORT": str(port)}
    with Server(env, tmp_path / "serve.log", args=("--workers", "2")) as server:
        server.wait_healthy()
        public = server.get("/metrics")
        assert public.status_code == 404 and detail_of(public, "not-found")
        for _ in range(4):
            assert server.get("/health").status_code == 200
        scrape = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
        healths = [
            sample.value
            for family in text_string_to_metric_families(scrape.text)
            for sample in family.samples
            if sample.name == "fx_http_requests_total" and sample.labels.get("route") == "/health"
        ]
        assert healths and healths[0] >= 5  # the four above and wait_healthy's, whichever worker answered them
        assert 'fx_info{role="api",version="0.1.0"}' in scrape.text
        assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=10).status_code == 404
