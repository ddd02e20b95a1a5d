"""Back-off outlives the poller: an upstream that asked for an hour's rest gets it from the next poller too,
whether the process was restarted or another one took over the poller lock."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.core.clock import utcnow
from app.core.jsonenc import iso
from app.ingest.pipeline import Outcome
from app.ingest.poller import Poller
from app.sources.fetch import make_client
from app.storage.lock import poller_lock
from app.storage.models import PollLog
from tests.processes import Server, wait_for
from tests.support import SEED_PAGE, Upstream, at, make_settings

HOUR = 3600


def _polls(engine: Engine, source: str, since: datetime) -> list[PollLog]:
    with Session(engine) as session:
        statement = select(PollLog).where(PollLog.source == source, col(PollLog.started_at) >= since)
        return list(session.exec(statement.order_by(col(PollLog.started_at))))


@pytest.mark.slow
def test_a_restarted_poller_keeps_the_back_off_an_upstream_asked_for(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    with Upstream() as upstream:
        env = {
            "FX_DATABASE_URL": database_url,
            "FX_ROLE": "poller",
            "FX_SOURCES": "ticker,peg",  # the peg (no upstream) shows the process polls all along
            "FX_SOURCE_TICKER_URL": upstream.serve("/", b"slow down", status=429, **{"Retry-After": str(HOUR)}),
            "FX_SOURCE_TICKER_INTERVAL": "1",
            "FX_SOURCE_PEG_INTERVAL": "1",
            "FX_POLL_JITTER": "0",
        }
        first = utcnow()
        with Server(env, tmp_path / "first.log") as server:
            server.wait_healthy()
            wait_for(lambda: len(_polls(engine, "peg", first)) >= 3, 20, "the first process to poll")
        (refused,) = _polls(engine, "ticker", first)
        assert refused.outcome == "error" and refused.error is not None and "HTTP 429" in refused.error
        assert len(upstream.requests) == 1

        second = utcnow()
        with Server(env, tmp_path / "second.log") as server:
            server.wait_healthy()
            # Three polls of the peg, so the ticker's job has run at start-up and at least once since.
            wait_for(lambda: len(_polls(engine, "peg", second)) >= 3, 20, "the restarted process to poll")
            ticker = next(s for s in server.get("/sources").json()["sources"] if s["name"] == "ticker")
            output = server.output()
    assert len(upstream.requests) == 1, output  # not asked again within the hour
    assert _polls(engine, "ticker", second) == []
    assert ticker["consecutive_failures"] == 1
    backoff_until = datetime.fromisoformat(ticker["backoff_until"])
    assert abs(backoff_until - (refused.started_at + timedelta(seconds=HOUR))) < timedelta(seconds=5)
    assert ticker["next_poll"] == iso(backoff_until)
    assert "ticker backs off until" in output  # the new poller says why it does not poll the ticker


def test_a_poller_taking_over_honours_the_back_off_its_predecessor_saved(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, sources="ticker", max_backoff=HOUR)
    asked: list[datetime] = []
    now = [at("2026-02-23T10:00")]

    def upstream(request: httpx.Request) -> httpx.Response:
        asked.append(now[0])
        if now[0] < at("2026-02-23T12:00"):
            return httpx.Response(503, headers={"Retry-After": "7200"})
        return httpx.Response(200, content=SEED_PAGE.read_bytes())

    async def run() -> list[Outcome | None]:
        first, second = poller_lock(engine), poller_lock(engine)
        async with make_client(5.0, "fx-ticker-test", httpx.MockTransport(upstream)) as client:
            leader = Poller(engine, settings, client, first, clock=lambda: now[0])
            follower = Poller(engine, settings, client, second, clock=lambda: now[0])
            outcomes = [await leader.poll_source("ticker")]  # 503, Retry-After: two hours
            outcomes.append(await follower.poll_source("ticker"))  # stands by
            first.release()  # the leader dies
            now[0] += timedelta(minutes=5)
            outcomes.append(await follower.poll_source("ticker"))  # takes over, and backs off as it would have
            now[0] = at("2026-02-23T12:00")
            outcomes.append(await follower.poll_source("ticker"))  # the two hours are up
            second.release()
        return outcomes

    statuses = [o.status if o is not None else None for o in asyncio.run(run())]
    assert statuses == ["error", None, None, "ok"]
    assert asked == [at("2026-02-23T10:00"), at("2026-02-23T12:00")]
