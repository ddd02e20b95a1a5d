"""Operations: /health, /ready (each reason to be unready), /metrics after a real poll, admin poll, CORS."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text
from sqlmodel import Session, func, select

from app.api.app import create_app
from app.api.httpmetrics import UNMATCHED, HTTPMetrics
from app.core import metrics
from app.core.clock import utcnow
from app.core.settings import Settings
from app.ingest.pipeline import process
from app.sources.registry import load_settings
from app.sources.ticker import SPEC
from app.storage.migrate import head_revision
from app.storage.models import PollLog
from tests.support import SEED_PAGE, Upstream, detail_of, make_settings

TOKEN = "correct-horse-battery-staple"
HEAD = head_revision()


def _ingest(engine: Engine, settings: Settings, minutes_ago: float) -> None:
    when = utcnow() - timedelta(minutes=minutes_ago)
    process(engine, settings, SPEC, SEED_PAGE.read_bytes(), observed_at=when, started_at=when)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(settings: Settings) -> tuple[int, dict[str, Any]]:
    with TestClient(create_app(settings)) as client:
        response = client.get("/ready")
    return response.status_code, response.json()


def test_health_is_liveness_only() -> None:
    settings = make_settings(f"postgresql://fx@127.0.0.1:{_closed_port()}/fx", role="api")  # no database there
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json() == {"status": "ok"}


def test_load_balancers_may_ask_with_head(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, role="api", sources=["ticker"])
    _ingest(engine, settings, minutes_ago=2)
    with TestClient(create_app(settings)) as client:
        for path in ("/health", "/ready"):
            response = client.head(path)
            assert response.status_code == 200, (path, response.status_code)
            assert response.content == b""


def test_ready_when_the_database_answers_and_a_source_is_fresh(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, role="api", sources=["ticker", "erapi"])
    _ingest(engine, settings, minutes_ago=2)
    status, body = _ready(settings)
    assert status == 200, body
    assert body["status"] == "ready" and "reason" not in body
    checks = body["checks"]
    assert checks["database"] == {"ok": True, "detail": "reachable"}
    assert checks["schema"]["ok"] and checks["schema"]["current"] == checks["schema"]["expected"] == HEAD
    assert checks["sources"]["ok"] and checks["sources"]["detail"] == "1 of 2 enabled sources fresh"
    assert checks["sources"]["sources"]["ticker"]["fresh"] is True
    assert checks["sources"]["sources"]["ticker"]["last_success"].endswith("Z")  # as every other time is written
    assert checks["sources"]["sources"]["erapi"] == {"last_success": None, "within_seconds": 10800, "fresh": False}


def test_unready_before_any_successful_poll(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, role="api", sources=["ticker"])
    status, body = _ready(settings)
    assert status == 503
    assert body["status"] == "unready"
    assert body["reason"] == (
        "sources: no enabled source has polled successfully within its staleness bound: none has been polled yet"
    )
    assert body["checks"]["database"]["ok"] and body["checks"]["schema"]["ok"]


def test_unready_when_the_last_success_is_older_than_the_staleness_bound(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, role="api", sources=["ticker"], source_ticker_max_gap=900)
    _ingest(engine, settings, minutes_ago=16)  # 960 s ago, the bound is 900 s
    process(engine, settings, SPEC, b"<html>markup changed</html>", observed_at=utcnow(), started_at=utcnow())
    status, body = _ready(settings)
    assert status == 503
    assert body["reason"].startswith("sources: no enabled source")
    ticker = body["checks"]["sources"]["sources"]["ticker"]
    assert ticker["fresh"] is False and ticker["last_success"] is not None and ticker["within_seconds"] == 900


def test_unready_when_the_database_has_no_schema(tmp_path: Any) -> None:
    # A file that was never migrated (the app itself starts anyway: it is alive, just not ready).
    settings = make_settings(f"sqlite:///{tmp_path / 'var' / 'fresh.db'}", role="api")
    status, body = _ready(settings)
    assert status == 503
    assert body["reason"] == f"schema: no schema: migrations not applied (expected revision {HEAD})"
    assert body["checks"]["schema"] == {
        "ok": False,
        "detail": f"no schema: migrations not applied (expected revision {HEAD})",
        "current": None,
        "expected": HEAD,
    }
    assert body["checks"]["sources"] == {"ok": False, "detail": "not checked: the schema is not current"}


def test_unready_when_the_schema_is_behind(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, role="api", sources=["ticker"])
    _ingest(engine, settings, minutes_ago=1)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    status, body = _ready(settings)
    assert status == 503
    assert body["reason"] == f"schema: schema at revision 0001, not the latest {HEAD}"


def test_unready_fast_when_the_database_is_unreachable() -> None:
    url = f"postgresql://fx:pw-never-shown@127.0.0.1:{_closed_port()}/fx"
    settings = make_settings(url, role="api")
    with TestClient(create_app(settings)) as client:
        started = time.monotonic()
        response = client.get("/ready")
        elapsed = time.monotonic() - started
        assert client.get("/health").status_code == 200  # alive all the same
    assert response.status_code == 503 and elapsed < 5
    body = response.json()
    assert body["status"] == "unready"
    assert body["reason"].startswith("database: unreachable (OperationalError: ")
    assert body["checks"]["schema"]["detail"] == "not checked: the database is unreachable"
    assert "pw-never-shown" not in response.text


def test_unready_when_the_sqlite_file_is_missing(tmp_path: Any) -> None:
    from app.read.readiness import readiness

    settings = make_settings(f"sqlite:///{tmp_path / 'gone' / 'fx.db'}", role="api")
    state = readiness(settings)
    assert not state.ready
    assert state.json()["reason"] == f"database: unreachable (no database file at {tmp_path / 'gone' / 'fx.db'})"
    assert not (tmp_path / "gone" / "fx.db").exists()  # the probe did not create it


# --- /metrics --------------------------------------------------------------------------------------------------


def _samples(body: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def _value(body: str, name: str, **labels: str) -> float:
    return _samples(body).get((name, frozenset(labels.items())), 0.0)


def _wait(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def test_metrics_after_a_poll_show_polls_spans_last_success_and_requests(engine: Engine, database_url: str) -> None:
    with Upstream() as upstream:
        url = upstream.serve("/", SEED_PAGE.read_bytes())
        settings = make_settings(
            database_url,
            role="all",
            sources=["ticker"],
            source_ticker_url=url,
            source_ticker_interval=3600,
            metrics_port=0,  # /metrics on the app itself, as FX_METRICS_PORT=0 serves it
        )
        before = metrics.render().decode()
        with TestClient(create_app(settings)) as client:
            # The scheduler polls once at start-up (then hourly): wait for that poll to be counted and for the
            # snapshot /rates/latest serves to hold it (reloaded just after the count: its ETag changes then).
            polls = _value(before, "fx_polls_total", source="ticker", outcome="ok")

            def polled() -> bool:
                scraped = client.get("/metrics").text
                served = [
                    _value(scraped, "fx_latest_quote_timestamp_seconds", currency=c)
                    for c in ("KGS", "KZT", "TJS", "UZS", "TMT")
                ]
                return _value(scraped, "fx_polls_total", source="ticker", outcome="ok") > polls and all(served)

            _wait(polled)
            first = client.get("/rates/latest")  # through FastAPI
            again = client.get("/rates/latest")  # from the fast path's cache
            assert first.status_code == again.status_code == 200
            assert client.get("/rates/latest", headers={"If-None-Match": first.headers["etag"]}).status_code == 304
            assert client.get("/no/such/thing/42").status_code == 404
            after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    body = after.text

    def delta(name: str, **labels: str) -> float:
        return _value(body, name, **labels) - _value(before, name, **labels)

    assert delta("fx_polls_total", source="ticker", outcome="ok") == 1
    assert delta("fx_polls_total", source="ticker", outcome="error") == 0
    assert ("fx_polls_total", frozenset({("source", "ticker"), ("outcome", "error")})) in _samples(body)
    assert delta("fx_poll_duration_seconds_count", source="ticker") == 1
    assert delta("fx_spans_opened_total", source="ticker") == 5  # one per currency
    assert delta("fx_spans_extended_total", source="ticker") == 0
    assert _value(body, "fx_rate_spans", source="ticker") == 5
    assert abs(_value(body, "fx_poll_last_success_timestamp_seconds", source="ticker") - time.time()) < 60
    assert abs(_value(body, "fx_latest_quote_timestamp_seconds", currency="KGS") - time.time()) < 60
    assert _value(body, "fx_latest_quote_stale", currency="KGS") == 0
    assert _value(body, "fx_info", version="0.1.0", role="all") == 1
    assert delta("fx_http_requests_total", route="/rates/latest", method="GET", status="200") == 2
    assert delta("fx_http_requests_total", route="/rates/latest", method="GET", status="304") == 1
    assert delta("fx_http_requests_total", route=UNMATCHED, method="GET", status="404") == 1
    assert delta("fx_http_request_duration_seconds_count", route="/rates/latest") == 3
    assert 'route="/no/such/thing/42"' not in body


def test_http_metrics_label_by_route_template_never_the_raw_path() -> None:
    app = FastAPI()

    @app.get("/things/{thing_id}/parts")
    async def parts(thing_id: int) -> dict[str, int]:
        if thing_id == 13:
            raise RuntimeError("unlucky")
        return {"id": thing_id}

    app.add_middleware(HTTPMetrics)
    from app.core.metrics import HTTP_REQUESTS

    def count(status: str, method: str = "GET") -> float:
        return float(HTTP_REQUESTS.labels("/things/{thing_id}/parts", method, status)._value.get())

    ok, invalid, failed, wrong = count("200"), count("422"), count("500"), count("405", "OTHER")
    with TestClient(app, raise_server_exceptions=False) as client:
        for n in range(3):
            client.get(f"/things/{n}/parts")
        client.get("/things/abc/parts")
        client.get("/things/13/parts")
        client.request("BREW", "/things/1/parts")  # an unknown method is "OTHER": clients cannot add series
    assert count("200") - ok == 3
    assert count("422") - invalid == 1
    assert count("500") - failed == 1
    assert count("405", "OTHER") - wrong == 1


# --- POST /admin/poll -------------------------------------------------------------------------------------------


def test_admin_poll_does_not_exist_without_a_token(tmp_path: Any) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'fx.db'}", role="api")
    with TestClient(create_app(settings)) as client:
        assert client.post("/admin/poll", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_admin_poll_wants_the_bearer_token(engine: Engine, database_url: str) -> None:
    with Upstream() as upstream:
        url = upstream.serve("/", SEED_PAGE.read_bytes())
        settings = make_settings(
            database_url, role="all", sources=["ticker"], source_ticker_url=url, admin_token=TOKEN,
            source_ticker_interval=3600,
        )  # fmt: skip
        with TestClient(create_app(settings)) as client:
            missing = client.post("/admin/poll")
            assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
            assert client.post("/admin/poll", headers={"Authorization": "Basic eDp5"}).status_code == 401
            wrong = client.post("/admin/poll", headers={"Authorization": "Bearer not-the-token"})
            assert wrong.status_code == 403 and detail_of(wrong, "admin-token-wrong") == "wrong admin token"
            auth = {"Authorization": f"Bearer {TOKEN}"}
            unknown = client.post("/admin/poll", params={"source": "nbk"}, headers=auth)
            assert unknown.status_code == 422 and "enabled: ticker" in unknown.json()["detail"]
            polled = client.post("/admin/poll", params={"source": "ticker"}, headers=auth)
            assert client.get("/rates/latest").json()["rates"][0]["currency"] == "KGS"
    assert polled.status_code == 200, polled.text
    (outcome,) = polled.json()["outcomes"]
    assert outcome["source"] == "ticker" and outcome["outcome"] == "ok" and outcome["entries"] == 40
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(PollLog)).one() >= 1


def test_admin_poll_in_an_api_process_points_to_the_poller(tmp_path: Any) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'fx.db'}", role="api", admin_token=TOKEN)
    with TestClient(create_app(settings)) as client:
        response = client.post("/admin/poll", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 409
    assert "polls run in the poller process" in response.json()["detail"]


def test_a_token_read_from_a_secret_file_with_its_newline_still_matches(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Docker secrets and `echo token > file` end with a newline nobody types in the Authorization header."""
    monkeypatch.setenv("FX_ADMIN_TOKEN", f"{TOKEN}\n")
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'fx.db'}", role="api")
    with TestClient(create_app(settings)) as client:
        response = client.post("/admin/poll", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 409  # past the token check: this process does not poll


def test_admin_token_never_shows_in_settings_repr() -> None:
    settings = make_settings("sqlite:///x.db", admin_token=TOKEN)
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
    assert make_settings("sqlite:///x.db", admin_token="  ").admin_token is None  # blank = disabled


# --- CORS -------------------------------------------------------------------------------------------------------


def test_cors_can_be_turned_off(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, role="api", cors_origins="")
    _ingest(engine, settings, minutes_ago=1)
    with TestClient(create_app(settings)) as client:
        response = client.get("/rates/latest", headers={"Origin": "https://dash.example.com"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_the_configured_origins_to_get(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, role="api", cors_origins="https://dash.example.com, http://localhost:3000")
    assert settings.cors_origins == ["https://dash.example.com", "http://localhost:3000"]
    _ingest(engine, settings, minutes_ago=1)
    origin = {"Origin": "https://dash.example.com"}
    with TestClient(create_app(settings)) as client:
        first = client.get("/rates/latest", headers=origin)
        cached = client.get("/rates/latest", headers=origin)  # the fast path answers this one
        other = client.get("/rates/latest", headers={"Origin": "https://evil.example"})
        preflight = client.options(
            "/rates/latest", headers={**origin, "Access-Control-Request-Method": "GET"}
        )  # fmt: skip
        post = client.options("/admin/poll", headers={**origin, "Access-Control-Request-Method": "POST"})
    for response in (first, cached):
        assert response.headers["access-control-allow-origin"] == "https://dash.example.com"
        assert "etag" in response.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in other.headers
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-methods"] == "GET, HEAD"
    assert post.status_code in (404, 405) and "access-control-allow-origin" not in post.headers  # never /admin


def test_a_bad_cors_origin_is_refused_at_start_up() -> None:
    from app.core.settings import SettingsError

    with pytest.raises(SettingsError, match=re.escape("FX_CORS_ORIGINS: not an origin: https://dash.example.com/path")):
        make_settings("sqlite:///x.db", cors_origins="https://dash.example.com/path")


def test_tls_files_go_together_and_must_exist(tmp_path: Path) -> None:
    from app.core.settings import SettingsError

    cert = tmp_path / "cert.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(SettingsError, match="FX_TLS_CERTFILE and FX_TLS_KEYFILE go together"):
        make_settings("sqlite:///x.db", tls_certfile=str(cert))
    with pytest.raises(SettingsError, match="FX_TLS_KEYFILE"):
        make_settings("sqlite:///x.db", tls_certfile=str(cert), tls_keyfile=str(tmp_path / "missing.pem"))
