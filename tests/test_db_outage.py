"""The database away while the poller runs: each poll is a failed poll (counted, logged in one line, backed
off), its poll-log row is kept and written once the database is back, and polling resumes by itself.

PostgreSQL is made to refuse through a TCP proxy in front of it; SQLite is made unavailable the way it is in
practice, by another connection holding its write lock for longer than the busy timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from app.api.app import create_app
from app.cli import EXIT_DATABASE, main
from app.core import metrics
from app.core.settings import Settings
from app.ingest.pipeline import Outcome
from app.ingest.poller import Poller
from app.sources.fetch import make_client
from app.storage.engine import make_engine
from app.storage.lock import poller_lock
from app.storage.migrate import upgrade
from app.storage.models import PollLog
from tests.conftest import _postgres_schema_url
from tests.faults import TcpProxy
from tests.processes import Server, wait_for
from tests.support import SEED_PAGE, Upstream, make_settings

TOKEN = "outage-admin-token"
Outage = Callable[[], AbstractContextManager[None]]


@contextlib.contextmanager
def _unavailable(database_url: str) -> Iterator[tuple[str, Outage]]:
    """The URL the poller is to use, and a context during which its database is unavailable."""
    if make_url(database_url).get_backend_name() == "sqlite":

        @contextlib.contextmanager
        def locked() -> Iterator[None]:
            holder = sqlite3.connect(make_url(database_url).database or "", isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")  # a backup or a long migration: no other writer gets in
            try:
                yield
            finally:
                holder.execute("COMMIT")
                holder.close()

        yield database_url, locked
        return

    with TcpProxy.in_front_of(database_url) as proxy:

        @contextlib.contextmanager
        def refused() -> Iterator[None]:
            proxy.refuse()
            try:
                yield
            finally:
                proxy.accept()

        yield proxy.url_for(database_url), refused


def _log(engine: Engine) -> list[PollLog]:
    with Session(engine) as session:
        return list(session.exec(select(PollLog).order_by(col(PollLog.started_at))))


def _errors_counted(source: str) -> float:
    return float(metrics.POLLS.labels(source, "error")._value.get())


def test_a_poll_while_the_database_is_away_is_written_once_it_is_back(
    engine: Engine, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    during: list[logging.LogRecord] = []
    with Upstream() as upstream, _unavailable(database_url) as (url, outage):
        settings = make_settings(url, sources="ticker", source_ticker_url=upstream.serve("/", SEED_PAGE.read_bytes()))

        async def polls(poller: Poller) -> list[Outcome | None]:
            outcomes = [await poller.poll_source("ticker")]
            with outage():
                caplog.clear()
                outcomes.append(await poller.poll_source("ticker"))
                during.extend(caplog.records)
            outcomes.append(await poller.poll_source("ticker"))
            return outcomes

        errors = _errors_counted("ticker")
        before, away, back = _with_poller(url, settings, polls)
    rows = _log(engine)
    assert [r.outcome for r in rows] == ["ok", "error", "ok"]  # the failed poll is in the poll log
    assert rows[1].error is not None and rows[1].error.startswith("database unavailable: ")
    assert rows[1].finished_at < rows[2].started_at  # written late, but it says when the poll happened
    assert before is not None and before.ok
    assert away is not None and not away.ok and not away.recorded
    assert away.error is not None and away.error.startswith("database unavailable: ")
    assert back is not None and back.ok, back  # the next poll after the database returns succeeds
    assert _errors_counted("ticker") - errors == 1
    # One line per poll says it, no traceback: the log of a long outage stays readable.
    lines = [r for r in during if r.name == "app.ingest.poller"]
    assert [(r.levelname, r.getMessage()) for r in lines] == [("WARNING", "poll ticker error")]
    assert lines[0].exc_info is None and lines[0].fields["error"] == away.error  # type: ignore[attr-defined]
    assert rows[1].error == away.error


Polls = Callable[[Poller], Awaitable[list[Outcome | None]]]


def _with_poller(url: str, settings: Settings, polls: Polls) -> list[Outcome | None]:
    """`polls` run by a poller of its own engine (the one that goes through the outage)."""
    poller_engine = make_engine(url)

    async def run() -> list[Outcome | None]:
        lock = poller_lock(poller_engine)
        try:
            async with make_client(5.0, "fx-ticker-test") as client:
                return await polls(Poller(poller_engine, settings, client, lock))
        finally:
            lock.release()

    try:
        return asyncio.run(run())
    finally:
        poller_engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_schema_url()


@pytest.fixture
def postgres(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def test_rows_kept_through_a_long_outage_are_bounded_and_say_what_was_dropped(
    postgres: Engine, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.ingest.poller

    monkeypatch.setattr(app.ingest.poller, "MAX_UNRECORDED", 3)
    with _unavailable(postgres_url) as (url, outage):

        async def polls(poller: Poller) -> list[Outcome | None]:
            outcomes = [await poller.poll_source("peg")]
            with outage():
                outcomes += [await poller.poll_source("peg", force=True) for _ in range(5)]
                assert len(poller.unrecorded) == 3
            outcomes.append(await poller.poll_source("peg", force=True))  # five failures: backing off
            return outcomes

        outcomes = _with_poller(url, make_settings(url, sources="peg"), polls)
    assert [o.status if o else None for o in outcomes] == ["ok"] + ["error"] * 5 + ["ok"]
    errors = [r.error for r in _log(postgres) if r.outcome == "error"]
    assert len(errors) == 3
    assert errors[0] is not None and errors[0].endswith("(and 2 earlier failed poll(s), too many to keep)")
    assert errors[1] is not None and not errors[1].endswith("too many to keep)")


def test_a_poll_while_the_database_does_not_answer_fails_instead_of_hanging(
    postgres: Engine, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frozen, not refusing (a paused server, a silent network): the poll gives up on the lock and fails."""
    import app.storage.lock

    monkeypatch.setattr(app.storage.lock, "ASK_TIMEOUT", 1.0)
    with TcpProxy.in_front_of(postgres_url) as proxy:
        url = proxy.url_for(postgres_url)

        async def polls(poller: Poller) -> list[Outcome | None]:
            outcomes = [await poller.poll_source("peg")]
            proxy.freeze()
            try:
                outcomes.append(await asyncio.wait_for(poller.poll_source("peg"), 10))
            finally:
                proxy.thaw()
            outcomes.append(await poller.poll_source("peg"))
            return outcomes

        before, frozen, back = _with_poller(url, make_settings(url, sources="peg"), polls)
    assert before is not None and before.ok
    assert frozen is not None and frozen.error == "database unavailable: no answer within 1 s about the poller lock"
    assert back is not None and back.ok
    assert [(r.outcome, r.error) for r in _log(postgres)] == [("ok", None), ("error", frozen.error), ("ok", None)]


def test_poll_once_with_the_database_away_says_so_and_exits_non_zero(
    postgres: Engine, postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Upstream() as upstream, _unavailable(postgres_url) as (url, outage):
        monkeypatch.setenv("FX_DATABASE_URL", url)
        monkeypatch.setenv("FX_SOURCES", "ticker")
        monkeypatch.setenv("FX_SOURCE_TICKER_URL", upstream.serve("/", SEED_PAGE.read_bytes()))
        with outage():
            code = main(["poll", "--once"])
        assert not upstream.requests
    captured = capsys.readouterr()
    assert code == EXIT_DATABASE
    assert captured.err.startswith("error: the database FX_DATABASE_URL=") and " is unavailable: " in captured.err
    assert captured.err.rstrip().endswith("nothing polled") and len(captured.err.strip().splitlines()) == 1
    assert "Traceback" not in captured.err + captured.out


def test_admin_poll_with_the_database_away_is_a_503_to_retry(postgres: Engine, postgres_url: str) -> None:
    with Upstream() as upstream, _unavailable(postgres_url) as (url, outage):
        settings = make_settings(
            url, role="all", sources="ticker", source_ticker_url=upstream.serve("/", SEED_PAGE.read_bytes()),
            source_ticker_interval=3600, admin_token=TOKEN,
        )  # fmt: skip
        auth = {"Authorization": f"Bearer {TOKEN}"}
        with TestClient(create_app(settings)) as client:
            wait_for(lambda: any(r.outcome == "ok" for r in _log(postgres)), 20, "the start-up poll")
            with outage():
                away = client.post("/admin/poll", headers=auth)
            back = client.post("/admin/poll", headers=auth)
    assert away.status_code == 503, away.text
    assert int(away.headers["retry-after"]) > 0
    body = away.json()
    assert body["detail"].startswith("the database is unreachable: ")
    assert body["outcomes"][0]["error"].startswith("database unavailable: connection failed: ")
    assert [o["outcome"] for o in body["outcomes"]] == ["error"]
    assert back.status_code == 200 and back.json()["outcomes"][0]["outcome"] == "ok"
    # The failed poll the admin asked for is in the poll log too, written with the next poll.
    assert [r.outcome for r in _log(postgres)] == ["ok", "error", "ok"]


# --- a real poller process ---------------------------------------------------------------------------------------


def _metric(server: Server, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(server.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def _wait(server: Server, condition: Callable[[], object], what: str) -> None:
    try:
        wait_for(condition, 30, what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{server.output()}") from None


def _json_lines(server: Server) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_a_poller_through_a_database_outage(postgres: Engine, postgres_url: str, tmp_path: Path) -> None:
    with Upstream() as upstream, TcpProxy.in_front_of(postgres_url) as proxy:
        env = {
            "FX_DATABASE_URL": proxy.url_for(postgres_url),
            "FX_ROLE": "poller",
            "FX_SOURCES": "ticker",
            "FX_SOURCE_TICKER_URL": upstream.serve("/", SEED_PAGE.read_bytes()),
            "FX_SOURCE_TICKER_INTERVAL": "1",
            "FX_SOURCE_TICKER_MAX_GAP": "3600",
            "FX_POLL_JITTER": "0",
            "FX_MAX_BACKOFF": "4",
            "FX_LOG_FORMAT": "json",
        }
        with Server(env, tmp_path / "serve.log") as server:
            server.wait_healthy()
            _wait(server, lambda: any(r.outcome == "ok" for r in _log(postgres)), "a first poll")
            proxy.refuse()
            fetched = len(upstream.requests)
            _wait(server, lambda: _metric(server, "fx_polls_total", source="ticker", outcome="error") >= 4, "errors")
            assert len(upstream.requests) <= fetched + 1  # nothing fetched that could not be stored (one in flight)
            proxy.accept()
            _wait(server, lambda: _log(postgres)[-1].outcome == "ok" and len(_log(postgres)) > 4, "a poll after it")
            sources = {s["name"]: s for s in server.get("/sources").json()["sources"]}
            errors = _metric(server, "fx_polls_total", source="ticker", outcome="error")
            lines = _json_lines(server)
    rows = _log(postgres)
    outcomes = [r.outcome for r in rows]
    first = outcomes.index("error")
    failed = rows[first : first + outcomes.count("error")]
    # Nothing lost: every failed poll counted has its row, and the polls after the outage succeed.
    assert len(failed) == errors and all(r.outcome == "error" for r in failed), outcomes
    assert all(r.error is not None and r.error.startswith("database unavailable: ") for r in failed)
    assert set(outcomes[:first]) == set(outcomes[first + len(failed) :]) == {"ok"}, outcomes
    # Backed off: the third failure waits three intervals (1 s each) more, where polls would fail every second.
    gaps = [(b.started_at - a.started_at).total_seconds() for a, b in itertools.pairwise(failed)]
    assert min(gaps) >= 0.9 and gaps[2] >= 2.5, gaps
    ticker = sources["ticker"]
    assert ticker["last_error"] == failed[-1].error and ticker["last_error_at"] is not None
    assert ticker["consecutive_failures"] == 0
    # The log: one warning per failed poll, without a traceback; nothing from the scheduler. (A poll that
    # ended as the database went may add a line: its state or the snapshot could not follow.)
    warnings = [line["message"] for line in lines if line["logger"] == "app.ingest.poller" and line["level"] != "info"]
    assert [m for m in warnings if m.startswith("poll ")] == ["poll ticker error"] * int(errors)
    assert len(warnings) <= errors + 2, warnings
    assert not [line for line in lines if line["logger"].startswith("apscheduler")]
    assert not [line for line in lines if line["logger"].startswith("app.") and "Traceback" in line["message"]]
