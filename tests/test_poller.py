"""Polling through HTTP: the CLI against a local server, and upstream failures through MockTransport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.cli import main
from app.core.settings import Settings
from app.ingest.pipeline import Outcome
from app.ingest.poller import Poller
from app.sources.fetch import make_client
from app.storage.lock import poller_lock
from app.storage.models import PollLog, RateSpan
from tests.support import SEED_PAGE, Upstream, make_settings


def stored(engine: Engine) -> list[tuple[str, str, int]]:
    with Session(engine) as session:
        rows = session.exec(select(RateSpan).order_by(col(RateSpan.id)))
        return [(s.currency, s.value, s.observations) for s in rows]


def last_log(engine: Engine) -> PollLog:
    with Session(engine) as session:
        row = session.exec(select(PollLog).order_by(col(PollLog.id).desc())).first()
        assert row is not None
        return row


def test_poll_once_against_a_local_server(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Upstream() as upstream:
        monkeypatch.setenv("FX_DATABASE_URL", database_url)
        monkeypatch.setenv("FX_SOURCES", "ticker")
        monkeypatch.setenv("FX_SOURCE_TICKER_URL", upstream.serve("/", SEED_PAGE.read_bytes()))
        assert main(["poll", "--once"]) == 0
        assert main(["poll", "--once", "--source", "ticker"]) == 0
    assert stored(engine) == [
        ("KGS", "0.01144", 2),
        ("KZT", "0.00201", 2),
        ("TJS", "0.10567", 2),
        ("UZS", "0.00008", 2),
        ("TMT", "0.28571", 2),
    ]
    assert "ticker: ok, 40 entries, 5 spans opened, 0 extended" in capsys.readouterr().out


def test_poll_once_exits_non_zero_when_every_source_failed(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Upstream() as upstream:
        monkeypatch.setenv("FX_DATABASE_URL", database_url)
        monkeypatch.setenv("FX_SOURCES", "ticker")
        monkeypatch.setenv("FX_SOURCE_TICKER_URL", upstream.serve("/", b"busy", status=503))
        assert main(["poll", "--once"]) == 1
    assert "ticker: error: HTTP 503 from http://127.0.0.1" in capsys.readouterr().out
    assert last_log(engine).outcome == "error"


def _poll_with(engine: Engine, settings: Settings, handler: Callable[[httpx.Request], httpx.Response]) -> Outcome:
    async def run() -> Outcome:
        lock = poller_lock(engine)
        async with make_client(1.0, "fx-ticker-test", httpx.MockTransport(handler)) as client:
            outcome = await Poller(engine, settings, client, lock).poll_source("ticker")
        lock.release()
        assert outcome is not None
        return outcome

    return asyncio.run(run())


def _timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("slow", request=request)


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize(
    ("handler", "error"),
    [
        (_timeout, "timed out fetching"),
        (_refused, "ConnectError fetching"),
        (lambda r: httpx.Response(500, content=b"oops"), "HTTP 500 from"),
        (lambda r: httpx.Response(200, content=b"<html>we moved</html>"), "unparseable response: no `CCC/USD"),
        (lambda r: httpx.Response(200, content=b"KGS/USD = 0.01 0% " * 400_000), "-byte limit"),
    ],
    ids=["timeout", "refused", "http-500", "garbage", "huge-body"],
)
def test_upstream_failures_are_logged_and_lose_nothing(
    engine: Engine, database_url: str, handler: Callable[[httpx.Request], httpx.Response], error: str
) -> None:
    settings = make_settings(database_url, sources="ticker")
    seed = SEED_PAGE.read_bytes()
    assert _poll_with(engine, settings, lambda r: httpx.Response(200, content=seed)).ok
    outcome = _poll_with(engine, settings, handler)
    assert not outcome.ok
    assert outcome.error is not None and error in outcome.error
    row = last_log(engine)
    assert row.outcome == "error" and row.error is not None and error in row.error
    assert len(stored(engine)) == 5


def test_requests_carry_a_real_user_agent(engine: Engine, database_url: str) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["user-agent"])
        return httpx.Response(200, content=SEED_PAGE.read_bytes())

    async def run() -> None:
        settings = make_settings(database_url)
        lock = poller_lock(engine)
        async with make_client(1.0, settings.user_agent, httpx.MockTransport(handler)) as client:
            await Poller(engine, settings, client, lock).poll_source("ticker")
        lock.release()

    asyncio.run(run())
    assert seen and seen[0].startswith("fx-ticker/")


def test_invalid_setting_stops_the_cli_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FX_ROLE", "everything")
    assert main(["poll", "--once"]) == 2
    assert "FX_ROLE: Input should be 'all', 'api' or 'poller' (got 'everything')" in capsys.readouterr().err


def test_ingest_of_a_missing_file_names_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(tmp_path / "nope.html"), "--source", "ticker"]) == 2
    assert "cannot read PATH" in capsys.readouterr().err


def test_bad_observed_at_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["ingest", str(SEED_PAGE), "--source", "ticker", "--observed-at", "yesterday"])
    assert exit_info.value.code == 2
    assert "--observed-at: not an ISO 8601 time: 'yesterday'" in capsys.readouterr().err


def test_a_bad_database_url_is_named_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FX_DATABASE_URL", "mysql://fx:s3cret@db/fx")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "FX_DATABASE_URL: only sqlite:/// and postgresql:// URLs are supported" in err
    assert "s3cret" not in err
