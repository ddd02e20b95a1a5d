"""The ingest steps: a day of polling the seed page every minute, in process, on an empty store."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from app.ingest.pipeline import process
from app.sources import ticker
from app.sources.registry import load_settings
from app.storage.engine import make_engine
from app.storage.migrate import upgrade
from bench.harness import SEED, Figure, Size


def bench_ingest(size: Size, database_url: str, label: str) -> list[Figure]:
    engine = make_engine(database_url)
    upgrade(engine)
    settings = load_settings(database_url=database_url, sources="ticker")
    body = SEED.read_bytes()
    start = datetime(2026, 2, 23, tzinfo=UTC)
    began = time.perf_counter()
    for minute in range(size.polls):
        when = start + timedelta(minutes=minute)
        outcome = process(engine, settings, ticker.SPEC, body, observed_at=when, started_at=when)
        assert outcome.ok, outcome.summary()
    elapsed = time.perf_counter() - began
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM rate_span")).scalar_one()
    engine.dispose()
    entries = size.polls * 40
    rate = size.polls / elapsed
    return [
        Figure(f"ingest of the seed page, {size.polls:,} polls ({label})", rate, "polls/s", "≥ 200", rate >= 200),
        Figure(f"rows stored for {entries:,} entries seen ({label})", stored, "rows", "= 5 distinct runs", stored == 5),
    ]
