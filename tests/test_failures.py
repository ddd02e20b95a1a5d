"""One upstream misbehaving: logged, backed off, shown in /sources, and nothing stored is lost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.api.app import create_app
from app.ingest.pipeline import Outcome
from app.ingest.poller import Poller, backoff
from app.sources.fetch import make_client
from app.storage.lock import poller_lock
from app.storage.models import PollLog, RateSpan
from tests.support import FIXTURES, SEED_PAGE, at, make_settings

NBK = (FIXTURES / "nbk_get_rates_2026-04-01.xml").read_bytes()
DAY_ONE = at("2026-04-01T04:00")
BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<rates><date>01.04.2026</date><item><title>USD</title><description>&lol3;</description></item></rates>"""

Handler = Callable[[httpx.Request], httpx.Response]


def _raise(exc: type[httpx.RequestError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("upstream trouble", request=request)

    return handler


FAILURES: list[tuple[str, Handler, str]] = [
    ("timeout", _raise(httpx.ReadTimeout), "timed out fetching"),
    ("refused", _raise(httpx.ConnectError), "ConnectError fetching"),
    ("cut-off", _raise(httpx.RemoteProtocolError), "RemoteProtocolError fetching"),
    ("http-403", lambda r: httpx.Response(403, content=b"Forbidden"), "HTTP 403 from"),
    ("http-502", lambda r: httpx.Response(502, content=b"Bad gateway"), "HTTP 502 from"),
    ("http-429", lambda r: httpx.Response(429, headers={"Retry-After": "7200"}), "HTTP 429 from"),
    ("garbage", lambda r: httpx.Response(200, content=b"\x89PNG\r\n\x1a\n\x00\x00"), "not well-formed XML"),
    ("truncated", lambda r: httpx.Response(200, content=NBK[: len(NBK) // 2]), "not well-formed XML"),
    ("huge", lambda r: httpx.Response(200, content=b"<rates>" + b" " * 6_000_000), "-byte limit"),
    ("entity-bomb", lambda r: httpx.Response(200, content=BOMB), "refused unsafe XML"),
    ("wrong-shape", lambda r: httpx.Response(200, content=b"<rss><channel/></rss>"), "nbk"),
]


def _run(engine: Engine, database_url: str, nbk_handler: Handler) -> list[Outcome | None]:
    """A good poll of nbk, then a bad one, then the ticker: all through one poller, as in production."""
    settings = make_settings(database_url, sources="nbk,ticker", max_backoff=3600)
    answers = {"nbk": lambda r: httpx.Response(200, content=NBK)}

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.host == "nationalbank.kz":
            return answers["nbk"](request)
        return httpx.Response(200, content=SEED_PAGE.read_bytes())

    async def run() -> list[Outcome | None]:
        lock = poller_lock(engine)
        now = [DAY_ONE]
        async with make_client(1.0, "fx-ticker-test", httpx.MockTransport(route)) as client:
            poller = Poller(engine, settings, client, lock, clock=lambda: now[0])
            outcomes = [await poller.poll_source("nbk")]
            answers["nbk"] = nbk_handler
            now[0] += timedelta(minutes=30)
            outcomes.append(await poller.poll_source("nbk"))
            outcomes.append(await poller.poll_source("ticker"))
            # Backing off: the next scheduled run of nbk is skipped, the ticker's is not.
            now[0] += timedelta(minutes=30)
            outcomes.append(await poller.poll_source("nbk"))
        lock.release()
        return outcomes

    return asyncio.run(run())


@pytest.mark.parametrize(("handler", "error"), [(h, e) for _, h, e in FAILURES], ids=[n for n, _, _ in FAILURES])
def test_a_failing_upstream_loses_nothing_and_shows_in_sources(
    engine: Engine, database_url: str, handler: Handler, error: str
) -> None:
    good, bad, ticker, later = _run(engine, database_url, handler)
    assert good is not None and good.ok
    assert bad is not None and not bad.ok and bad.error is not None and error in bad.error
    assert ticker is not None and ticker.ok  # the other source is untouched
    with Session(engine) as session:
        kzt = session.exec(select(RateSpan).where(RateSpan.source == "nbk", RateSpan.currency == "KZT")).all()
    assert [(s.value, s.observations) for s in kzt] == [("478.77", 1)]  # earlier data intact

    settings = make_settings(database_url, role="api", sources="nbk,ticker")
    with TestClient(create_app(settings)) as client:
        sources = {s["name"]: s for s in client.get("/sources").json()["sources"]}
    nbk = sources["nbk"]
    assert error in nbk["last_error"]
    assert nbk["last_success"] == "2026-04-01T04:00:00Z"
    assert nbk["spans_stored"] == 7  # KZT, and KGS, TJS, UZS, RUB, EUR and CNY through its dollar row
    assert sources["ticker"]["consecutive_failures"] == 0 and sources["ticker"]["last_error"] is None
    if "429" in error:
        # Retry-After asked for two hours: the poll 30 minutes later did not happen.
        assert later is None
        assert nbk["consecutive_failures"] == 1
        assert nbk["backoff_until"] == "2026-04-01T06:30:00Z"
    else:
        # One failure: no extra wait, the next regular poll retries (and fails again), then it backs off.
        assert later is not None and not later.ok
        assert nbk["consecutive_failures"] == 2
        assert nbk["backoff_until"] == "2026-04-01T05:30:00Z"  # one interval after the second failure


def test_sources_lists_every_source_with_its_schedule(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, role="api", sources="nbk,erapi,ticker")
    with TestClient(create_app(settings)) as client:
        response = client.get("/sources")
        etag = response.headers["etag"]
        assert client.get("/sources", headers={"If-None-Match": etag}).status_code == 304
    sources = response.json()["sources"]
    assert [s["name"] for s in sources] == ["nbk", "erapi", "ticker", "nbkr", "nbt", "cbu", "cbt", "peg"]
    nbk, erapi = sources[0], sources[1]
    assert (nbk["enabled"], nbk["authoritative_for"], nbk["interval_seconds"]) == (True, ["KZT"], 1800)
    assert erapi["currencies"] == ["KGS", "KZT", "TJS", "UZS", "TMT", "RUB", "EUR", "CNY"]
    assert erapi["interval_seconds"] == 3600 and "exchangerate-api.com" in erapi["attribution"]
    assert sources[3]["enabled"] is False


def test_an_unforeseen_error_is_logged_as_a_failed_poll_and_stops_nothing(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.ingest.poller

    def broken(*args: object, **kwargs: object) -> Outcome:
        raise RuntimeError("a bug in a parser")

    monkeypatch.setattr(app.ingest.poller, "process", broken)
    first, _, ticker, _ = _run(engine, database_url, lambda r: httpx.Response(200, content=NBK))
    assert first is not None and not first.ok  # every poll goes through the broken pipeline now
    assert first.error == "internal error: RuntimeError: a bug in a parser"
    assert ticker is not None and not ticker.ok  # the next source was still polled
    with Session(engine) as session:
        rows = session.exec(select(PollLog)).all()
    assert [(r.source, r.outcome) for r in rows][:3] == [("nbk", "error"), ("nbk", "error"), ("ticker", "error")]


def test_a_huge_retry_after_waits_a_day_at_most() -> None:
    assert backoff(1800, 1, 999_999_999_999.0, 21600) == timedelta(days=1)
    assert backoff(1800, 1, 120.0, 21600) == timedelta(seconds=120)
    assert backoff(1800, 40, None, 21600) == timedelta(seconds=21600)


SECRETS = ("hunter2", "3f9a0c1e2b7d4a6f8e5c1b2a", "q8WvZ1")


def test_no_secret_of_a_source_url_reaches_sources_the_poll_log_or_the_logs(
    engine: Engine, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A password, a key in the path (`/v6/<key>/...`) or in the query (`?apikey=`) is the operator's own."""
    url = "https://fx:hunter2@v6.exchangerate-api.com/v6/3f9a0c1e2b7d4a6f8e5c1b2a/latest/USD?apikey=q8WvZ1&base=USD"
    settings = make_settings(database_url, sources="erapi", source_erapi_url=url)

    async def poll() -> Outcome | None:
        lock = poller_lock(engine)
        async with make_client(1.0, "fx-ticker-test", httpx.MockTransport(_raise(httpx.ConnectError))) as client:
            outcome = await Poller(engine, settings, client, lock, clock=lambda: DAY_ONE).poll_source("erapi")
        lock.release()
        return outcome

    with caplog.at_level("INFO"):
        outcome = asyncio.run(poll())
    assert outcome is not None and not outcome.ok
    with Session(engine) as session:
        (row,) = session.exec(select(PollLog).where(PollLog.source == "erapi")).all()
    with TestClient(create_app(make_settings(database_url, role="api", sources="erapi", source_erapi_url=url))) as c:
        (erapi,) = [s for s in c.get("/sources").json()["sources"] if s["name"] == "erapi"]
    assert erapi["url"] == "https://fx:***@v6.exchangerate-api.com/v6/***/latest/USD?apikey=***&base=USD"
    assert erapi["last_error"].startswith("ConnectError fetching https://fx:***@v6.exchangerate-api.com/v6/***/")
    shown = [erapi["url"], erapi["last_error"], row.error or "", caplog.text]
    assert [secret for secret in SECRETS for text in shown if secret in text] == []
