"""Caches follow the data, and only the data: a failed poll changes no version or ETag; a repeated default
raw history request is answered from the rendered bodies."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from app.api.app import create_app
from app.core.clock import utcnow
from app.ingest.pipeline import process
from app.ingest.poller import Poller
from app.read.query import data_version
from app.sources.fetch import make_client
from app.sources.ticker import SPEC
from app.storage.engine import read_session
from app.storage.lock import poller_lock
from tests.support import SEED_PAGE, make_settings

PATHS = [
    "/rates/latest",
    "/rates/KGS/history",
    "/rates/KGS/history?interval=1h",
    "/rates/export.csv?start=2026-01-01&end=2030-01-01",
    "/currencies",
]


def _cache(result: str) -> float:
    return REGISTRY.get_sample_value("fx_query_cache_total", {"result": result}) or 0.0


def test_a_failed_poll_changes_no_version_and_no_etag(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, role="api", sources=["ticker"], source_ticker_url="http://upstream.test/")
    seen = utcnow() - timedelta(minutes=1)
    process(engine, settings, SPEC, SEED_PAGE.read_bytes(), observed_at=seen, started_at=seen)
    with read_session(engine) as session:
        before = data_version(session)
    with TestClient(create_app(settings)) as client:
        etags = {path: client.get(path).headers["etag"] for path in PATHS}

    async def poll() -> None:
        broken = httpx.MockTransport(lambda request: httpx.Response(502, text="bad gateway"))
        lock = poller_lock(engine)
        try:
            async with make_client(5, "test", broken) as http:
                (outcome,) = await Poller(engine, settings, http, lock).poll_all(["ticker"])
        finally:
            lock.release()
        assert outcome is not None and outcome.status == "error"

    asyncio.run(poll())
    with read_session(engine) as session:
        assert data_version(session) == before
    with TestClient(create_app(settings)) as client:
        assert {path: client.get(path).headers["etag"] for path in PATHS} == etags
        assert "HTTP 502" in client.get("/sources").json()["sources"][0]["last_error"]


def test_default_raw_history_is_answered_from_the_cache_on_a_repeat(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, role="api", sources=["ticker"])
    seen = utcnow() - timedelta(minutes=1)
    process(engine, settings, SPEC, SEED_PAGE.read_bytes(), observed_at=seen, started_at=seen)
    with TestClient(create_app(settings)) as client:
        first = client.get("/rates/KGS/history")
        hits, misses = _cache("hit"), _cache("miss")
        again = client.get("/rates/KGS/history")  # a later "now": the same spans
    assert again.content == first.content
    assert (_cache("hit") - hits, _cache("miss") - misses) == (1, 0)
