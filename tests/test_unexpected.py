"""A bug is still an answer: an exception no handler expected gives a JSON 500 with the security headers, the
traceback goes to the log once, and the keep-alive connection stays open for the next request.

Made for real: a real `fx-ticker serve` over a store holding a span whose value no code can read (written around
the service, as a bad restore or a hand edit would), asked for that span's history.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from app.api.errors import INTERNAL_DETAIL
from app.storage.engine import make_engine
from app.storage.migrate import upgrade
from tests.processes import Server
from tests.series import insert_spans, span
from tests.support import at


@pytest.mark.slow
def test_an_unexpected_exception_is_a_json_500_and_the_connection_survives(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'fx.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    insert_spans(engine, [span("KGS", "ticker", "0.01144", False, at("2026-01-01T00:00"), at("2026-01-01T01:00"))])
    with engine.begin() as conn:
        conn.execute(text("UPDATE rate_span SET value = 'not a number'"))
    engine.dispose()
    with Server({"FX_DATABASE_URL": database_url, "FX_ROLE": "api"}, tmp_path / "serve.log") as server:
        server.wait_healthy()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.connect()
        sock = connection.sock
        connection.request("GET", "/rates/KGS/history?source=ticker&start=2026-01-01&end=2026-01-02")
        response = connection.getresponse()
        body = response.read()
        assert response.status == 500
        assert response.getheader("Content-Type") == "application/problem+json"
        assert json.loads(body) == {
            "type": "https://fx-ticker.dev/problems/internal-error",
            "title": "Internal error",
            "status": 500,
            "detail": INTERNAL_DETAIL,
        }
        assert response.getheader("X-Content-Type-Options") == "nosniff"
        assert response.getheader("X-Frame-Options") == "DENY"
        assert response.getheader("Cache-Control") == "no-store"
        connection.request("GET", "/health")
        after = connection.getresponse()
        assert (after.status, json.loads(after.read())) == (200, {"status": "ok"})
        assert connection.sock is sock  # the same connection answered both
        connection.close()
        log = server.output()
    assert log.count("GET /rates/KGS/history failed unexpectedly") == 1
    assert log.count("Traceback") == 1
    assert "Exception in ASGI application" not in log  # the server itself saw no exception
