"""Every enabled source is polled at start-up: no job loses the race for the poller lock to its siblings.

All the jobs share one first run time, so their polls ask for the lock from several threads at once; a lock
that checks and then sets without a lock of its own lets one of them win and the others skip, and the
skipped sources then wait a whole interval (30 minutes for a bank).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.core.clock import utcnow
from app.ingest.pipeline import Outcome
from app.ingest.poller import Poller, local_day
from app.sources.base import url_for
from app.sources.fetch import make_client
from app.sources.registry import SOURCES
from app.storage.lock import poller_lock
from app.storage.models import PollLog
from tests.processes import Server, wait_for
from tests.support import SEED_PAGE, Upstream, make_settings
from tests.test_sources_e2e import CASES

STARTS = 10


def _serve_every_source(upstream: Upstream) -> dict[str, str]:
    """Each fetching source's recorded payload at the URL the poller asks for today; FX_ variables pointing there."""
    env: dict[str, str] = {}
    for case in CASES:
        spec = SOURCES[case.source]
        now = utcnow()
        # The publisher's today, and its today a little later, in case a start-up straddles its midnight.
        for moment in (now, now + timedelta(minutes=5)):
            day = local_day(spec, moment) if spec.dated else None
            upstream.serve(url_for(case.url, day), case.first[1])
        env[f"FX_SOURCE_{case.source.upper()}_URL"] = upstream.url(case.url)
    return env


def _polled_since(engine: Engine, since: datetime) -> set[str]:
    with Session(engine) as session:
        rows = session.exec(select(PollLog.source).where(col(PollLog.started_at) >= since))
        return set(rows)


@pytest.mark.slow
def test_every_source_is_polled_at_every_start(engine: Engine, database_url: str, tmp_path: Path) -> None:
    enabled = set(SOURCES)
    assert {case.source for case in CASES} | {"peg"} == enabled  # every source, the peg needing no upstream
    with Upstream() as upstream:
        env = {
            "FX_DATABASE_URL": database_url,
            "FX_ROLE": "poller",
            "FX_SOURCES": ",".join(sorted(enabled)),
            "FX_POLL_JITTER": "0",
            **_serve_every_source(upstream),
        }
        for start in range(1, STARTS + 1):
            since = utcnow()
            with Server(env, tmp_path / f"serve-{start}.log") as server:
                server.wait_healthy()
                _wait_for_every_poll(engine, since, enabled, f"start {start} of {STARTS}", server)
            assert server.process.returncode == 0, server.output()


def _wait_for_every_poll(engine: Engine, since: datetime, enabled: set[str], which: str, server: Server) -> None:
    # The banks' interval is 30 minutes: a source skipped at start-up would not show up for that long.
    try:
        wait_for(lambda: _polled_since(engine, since) == enabled, 15, "a poll of every source")
    except AssertionError:
        missing = sorted(enabled - _polled_since(engine, since))
        raise AssertionError(f"{which}: no poll of {missing} at start-up\n{server.output()}") from None


def test_polls_started_together_all_poll(engine: Engine, database_url: str) -> None:
    """The same race in one process: eight polls asking for a lock nobody holds yet, all at once."""
    names = ["ticker", "peg"] * 4

    async def run() -> list[object]:
        lock = poller_lock(engine)
        with Upstream() as upstream:
            url = upstream.serve("/", SEED_PAGE.read_bytes())
            settings = make_settings(database_url, sources="ticker,peg", role="api", source_ticker_url=url)
            async with make_client(5.0, "fx-ticker-test") as client:
                poller = Poller(engine, settings, client, lock)
                outcomes = await asyncio.gather(*(poller.poll_source(name, force=True) for name in names))
        lock.release()
        return list(outcomes)

    outcomes = asyncio.run(run())
    assert None not in outcomes, outcomes


def test_a_follower_says_once_that_another_process_leads(
    engine: Engine, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Standing by is logged at INFO once per change of leadership, not at every skipped poll, nor silently."""
    settings = make_settings(database_url, sources="peg", role="api")
    leader, follower = poller_lock(engine), poller_lock(engine)
    assert leader.acquire()

    async def polls(count: int) -> list[Outcome | None]:
        async with make_client(5.0, "fx-ticker-test") as client:
            poller = Poller(engine, settings, client, follower)
            found = [await poller.poll_source("peg") for _ in range(count)]
            leader.release()  # the leader dies: this process takes over on its next poll
            found.append(await poller.poll_source("peg"))
            assert leader.acquire() is False  # and holds the lock from now on
            return found

    caplog.set_level(logging.INFO, logger="app")
    try:
        outcomes = asyncio.run(polls(5))
    finally:
        follower.release()
    assert outcomes[:5] == [None] * 5 and outcomes[5] is not None
    lines = [
        r.getMessage() for r in caplog.records if r.name == "app.ingest.poller" and "poller lock" in r.getMessage()
    ]
    assert lines == [
        "another process holds the poller lock: this one stands by and polls only if it takes over",
        "took the poller lock: this process polls now",
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.getMessage() in lines)
