"""A poll has a deadline on the database (FX_POLL_DEADLINE). One that waits on it longer is an error at the
deadline, seen at once (its log line, fx_polls_total, the poller's view for /sources) and written to the poll log
once the database answers; what its abandoned write did is told apart (rolled back; or committed after all,
when its COMMIT had reached the server: then its data stands, and the error row says so). A shorter stall makes
a slow poll that ends well, and the scheduled runs it cost are counted (fx_poll_runs_skipped_total, /sources).

The stalls are real: PostgreSQL behind tests/faults.TcpProxy, frozen (nothing forwarded, as a paused server);
SQLite the way it stalls in practice, another writer holding its lock (a backup, a long migration).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, func, select

from app.core import metrics
from app.core.settings import Settings
from app.domain.health import PollerView
from app.ingest.pipeline import Outcome
from app.ingest.poller import Poller, poller_engine
from app.sources.fetch import make_client
from app.storage.lock import poller_lock
from app.storage.models import PollLog, RateSpan, SourceState
from tests.faults import TcpProxy
from tests.processes import Server, wait_for
from tests.support import SEED_PAGE, Upstream, make_settings

DEADLINE = 2.0
STALL = 6.0  # seconds a stall lasts unless the test ends it sooner: the code before the deadline waited it out
SLACK = 1.5  # scheduling on a busy two-core machine
ON_POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
OVERRAN = f"database unavailable: the database did not answer within {DEADLINE:g} s (the poll deadline)"


@dataclass
class Stall:
    """A database that stops answering when `begin()` is called, for `STALL` seconds or until `end()`."""

    url: str  # what the poller is to use
    begin: Callable[[], None]
    end: Callable[[], None]
    timers: list[threading.Timer] = field(default_factory=list)

    def on_request(self, _path: str) -> None:
        """Stall as the upstream is asked: the poll has the lock, and its write is next."""
        self.begin()
        timer = threading.Timer(STALL, self.end)
        self.timers.append(timer)
        timer.start()

    def close(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.end()


@contextlib.contextmanager
def _stalls(database_url: str) -> Iterator[Stall]:
    if make_url(database_url).get_backend_name() == "sqlite":
        holder = sqlite3.connect(make_url(database_url).database or "", isolation_level=None, check_same_thread=False)
        mutex = threading.Lock()

        def begin() -> None:
            with mutex:
                holder.execute("BEGIN EXCLUSIVE")  # no other writer gets in

        def end() -> None:
            with mutex:
                if holder.in_transaction:
                    holder.execute("COMMIT")

        stall = Stall(database_url, begin, end)
        try:
            yield stall
        finally:
            stall.close()
            holder.close()
        return
    with TcpProxy.in_front_of(database_url) as proxy:
        stall = Stall(proxy.url_for(database_url), proxy.freeze, proxy.thaw)
        try:
            yield stall
        finally:
            stall.close()


Polls = Callable[[Poller], Awaitable[dict[str, Any]]]


def _with_poller(settings: Settings, polls: Polls) -> dict[str, Any]:
    """`polls` run by a poller on the engine a polling process makes (app.ingest.poller.poller_engine)."""
    engine = poller_engine(settings)

    async def run() -> dict[str, Any]:
        lock = poller_lock(engine)
        try:
            async with make_client(5.0, "fx-ticker-test") as client:
                return await polls(Poller(engine, settings, client, lock))
        finally:
            lock.release()

    try:
        return asyncio.run(run())
    finally:
        engine.dispose()


def _log(engine: Engine) -> list[PollLog]:
    with Session(engine) as session:
        return list(session.exec(select(PollLog).order_by(col(PollLog.started_at), col(PollLog.id))))


def _observations(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.sum(RateSpan.observations))).one() or 0)


def _counted(source: str, outcome: str) -> float:
    return float(metrics.POLLS.labels(source, outcome)._value.get())


def _settings(url: str, upstream: Upstream) -> Settings:
    page = upstream.serve("/", SEED_PAGE.read_bytes())
    return make_settings(url, sources="ticker", source_ticker_url=page, poll_deadline=DEADLINE)


def test_a_poll_stalled_on_the_database_past_its_deadline_is_an_error_at_the_deadline(
    engine: Engine, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.ingest.poller")
    errors = _counted("ticker", "error")
    with Upstream() as upstream, _stalls(database_url) as stall:

        async def polls(poller: Poller) -> dict[str, Any]:
            first = await poller.poll_source("ticker")
            upstream.on_request = stall.on_request
            caplog.clear()
            began = time.monotonic()
            stalled = await poller.poll_source("ticker", force=True)
            seconds = time.monotonic() - began
            upstream.on_request = None
            lines = [(r.levelname, r.getMessage(), getattr(r, "fields", {})) for r in caplog.records]
            view = poller.view()
            counted = _counted("ticker", "error")
            stall.end()
            await asyncio.wait_for(poller.wait_abandoned(), STALL + 10)  # what became of the write given up on
            back = await poller.poll_source("ticker", force=True)
            return locals()

        run = _with_poller(_settings(stall.url, upstream), polls)
    first, stalled, back = run["first"], run["stalled"], run["back"]
    assert first.ok and back.ok, (first, back)
    # Said at the deadline, not when the database answered again.
    assert stalled.status == "error" and not stalled.recorded, stalled
    assert stalled.error == OVERRAN
    assert DEADLINE - 0.2 < run["seconds"] < DEADLINE + SLACK, run["seconds"]
    assert run["counted"] - errors == 1
    assert run["lines"][-1][:2] == ("WARNING", "poll ticker error") and run["lines"][-1][2]["error"] == OVERRAN
    view: dict[str, PollerView] = run["view"]
    assert view["ticker"].last_error == OVERRAN and view["ticker"].unrecorded == 1
    assert view["ticker"].consecutive_failures == 1
    # The write it gave up on was told to stop, and stored nothing (it said so in one line).
    assert any("given up at its deadline did not commit" in r.getMessage() for r in caplog.records)
    rows = _log(engine)
    assert [(r.outcome, r.error) for r in rows] == [("ok", None), ("error", OVERRAN), ("ok", None)]
    assert _observations(engine) == sum(r.spans_opened + r.spans_extended for r in rows) == 10


@ON_POSTGRES
def test_a_write_that_commits_after_the_deadline_stands_and_its_poll_still_shows_the_overrun(
    engine: Engine, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The store's COMMIT reaches the server, which commits; its answer is lost in a path that freezes just then.
    The poll is an error at its deadline; when the answer comes, the data it stored is the truth."""
    caplog.set_level(logging.INFO, logger="app.ingest.poller")
    before = {outcome: _counted("ticker", outcome) for outcome in ("ok", "error")}
    with Upstream() as upstream, TcpProxy.in_front_of(database_url) as proxy:
        url = proxy.url_for(database_url)

        async def polls(poller: Poller) -> dict[str, Any]:
            await poller.poll_source("ticker")
            upstream.on_request = lambda _: proxy.freeze_after(b"COMMIT")
            bound = threading.Timer(STALL, proxy.thaw)  # however the poll behaves, the freeze ends
            bound.start()
            stalled = await poller.poll_source("ticker", force=True)
            upstream.on_request = None
            await asyncio.sleep(1)  # the answer to the COMMIT arrives well past the deadline
            proxy.thaw()
            bound.cancel()
            await asyncio.wait_for(poller.wait_abandoned(), 10)
            await poller.poll_source("ticker", force=True)
            return locals()

        run = _with_poller(_settings(url, upstream), polls)
    stalled: Outcome = run["stalled"]
    assert stalled.status == "error" and stalled.error == OVERRAN
    rows = _log(engine)
    assert [r.outcome for r in rows] == ["ok", "ok", "error", "ok"]
    late, overrun = rows[1], rows[2]
    # One poll, two rows that agree: it stored its data (its own row), and it overran its deadline.
    assert late.started_at == overrun.started_at and late.spans_extended == 5
    assert overrun.error is not None and overrun.error.startswith(OVERRAN + "; its write committed later nonetheless")
    assert _observations(engine) == sum(r.spans_opened + r.spans_extended for r in rows) == 15
    # The metrics count what the poll log holds: the error at the deadline, the late write's outcome when it came.
    assert _counted("ticker", "ok") - before["ok"] == 3 and _counted("ticker", "error") - before["error"] == 1
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("overran its deadline, but its write committed after" in m for m in said), said
    with Session(engine) as session:
        state = session.get(SourceState, "ticker")
    assert state is not None and state.last_error == overrun.error
    assert state.last_success_at is not None and state.last_success_at > late.started_at  # the poll after it


# --- a real poller, and PostgreSQL frozen shorter and longer than the deadline -------------------------------------


def _metric(server: Server, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(server.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def _slower_than(server: Server, seconds: str) -> float:
    """Polls of the ticker that took longer than `seconds` (a bucket bound of fx_poll_duration_seconds)."""
    total = _metric(server, "fx_poll_duration_seconds_count", source="ticker")
    return total - _metric(server, "fx_poll_duration_seconds_bucket", source="ticker", le=seconds)


@pytest.mark.slow
@ON_POSTGRES
def test_a_frozen_database_is_seen_whether_the_freeze_is_shorter_or_longer_than_the_deadline(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    deadline = 3
    with Upstream() as upstream, TcpProxy.in_front_of(database_url) as proxy:
        env = {
            "FX_DATABASE_URL": proxy.url_for(database_url),
            "FX_ROLE": "all",
            "FX_SOURCES": "ticker",
            "FX_SOURCE_TICKER_URL": upstream.serve("/", SEED_PAGE.read_bytes()),
            "FX_SOURCE_TICKER_INTERVAL": "1",
            "FX_SOURCE_TICKER_MAX_GAP": "3600",
            "FX_POLL_JITTER": "0",
            "FX_MAX_BACKOFF": "1",
            "FX_POLL_DEADLINE": str(deadline),
            "FX_LOG_FORMAT": "json",
        }
        with Server(env, tmp_path / "serve.log") as server:
            server.wait_healthy()
            wait_for(lambda: _metric(server, "fx_polls_total", source="ticker", outcome="ok") >= 2, 30, "polls")

            # Shorter than the deadline: the poll in flight waits it out and ends well, but late. It is counted
            # as slow, and the scheduled runs it cost are counted and shown.
            proxy.freeze()
            time.sleep(deadline - 1)
            proxy.thaw()
            wait_for(lambda: _slower_than(server, "1.0") >= 1, 10, "a poll slower than its interval to end")
            assert _metric(server, "fx_poll_runs_skipped_total", source="ticker") >= 1
            assert _metric(server, "fx_polls_total", source="ticker", outcome="error") == 0
            ticker = next(s for s in server.get("/sources").json()["sources"] if s["name"] == "ticker")
            assert ticker["runs_skipped"] >= 1 and ticker["last_run_skipped_at"] is not None, ticker
            assert ticker["last_error"] is None

            # Longer than the deadline: an error at the deadline, counted while the database is still frozen.
            proxy.freeze()
            frozen = time.monotonic()
            try:
                wait_for(
                    lambda: _metric(server, "fx_polls_total", source="ticker", outcome="error") >= 1,
                    deadline + 5,
                    "an error counted during the freeze",
                )
                assert time.monotonic() - frozen < deadline + 3
                time.sleep(max(0.0, deadline + 2 - (time.monotonic() - frozen)))
            finally:
                proxy.thaw()
            overran = f"database unavailable: the database did not answer within {deadline} s (the poll deadline)"
            wait_for(lambda: any(r.error and r.error.startswith(overran) for r in _log(engine)), 20, "its row")
            ticker = next(s for s in server.get("/sources").json()["sources"] if s["name"] == "ticker")
            output = server.output()
    assert ticker["last_error"].startswith(overran) and ticker["last_error_at"] is not None, ticker
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    said = [line["error"] for line in lines if line["message"] == "poll ticker error"]
    assert said and all(error.startswith("database unavailable: ") for error in said), said
    assert overran in said
    assert "Traceback" not in output
