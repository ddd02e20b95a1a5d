"""`/rates/stream` (Server-Sent Events) on a real server; `/rates/ticker.txt` read back by the ticker parser."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from app.api.stream import Subscriber
from app.core.clock import utcnow
from app.core.settings import Settings
from app.ingest.pipeline import process
from app.sources import ticker
from tests.processes import Server, wait_for
from tests.support import SEED_PAGE, detail_of, make_settings

SEED = SEED_PAGE.read_text()


def _page(kgs: str) -> bytes:
    """The seed page with the som at another value."""
    return SEED.replace("KGS/USD = 0.01144", f"KGS/USD = {kgs}").encode()


def _ingest(engine: Engine, settings: Settings, page: bytes, minutes_ago: float = 0) -> None:
    when = utcnow() - timedelta(minutes=minutes_ago)
    process(engine, settings, ticker.SPEC, page, observed_at=when, started_at=when)


def _seed(engine: Engine, settings: Settings, server: Server) -> None:
    """The seed page stored a minute ago, and served."""
    _ingest(engine, settings, SEED.encode(), minutes_ago=1)
    wait_for(lambda: server.get("/rates/latest").json()["rates"], what="the seed page to be served")


@dataclass
class Event:
    id: str | None = None
    event: str | None = None
    data: str | None = None
    comments: list[str] = field(default_factory=list)
    retry: int | None = None


class Reader:
    """Reads one SSE stream in a thread, event by event, into a list the test can look at."""

    def __init__(self, url: str, **headers: str) -> None:
        self.events: list[Event] = []
        self.status: int | None = None
        self.headers: httpx.Headers | None = None
        self.ended = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._thread.start()

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(30, read=60)) as response:
                self.status, self.headers = response.status_code, response.headers
                current = Event()
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if not line:
                        self.events.append(current)
                        current = Event()
                    elif line.startswith(":"):
                        current.comments.append(line[1:].strip())
                    else:
                        name, _, value = line.partition(":")
                        value = value.removeprefix(" ")
                        if name == "retry":
                            current.retry = int(value)
                        elif name in ("id", "event", "data"):
                            setattr(current, name, value)
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()

    @property
    def rates(self) -> list[Event]:
        return [e for e in self.events if e.event == "rates"]

    def close(self) -> None:
        self._stop.set()


@pytest.fixture
def server(engine: Engine, database_url: str, tmp_path: Path) -> Iterator[Server]:
    env = {
        "FX_DATABASE_URL": database_url,
        "FX_ROLE": "api",
        "FX_REFRESH_SECONDS": "0.2",
        "FX_STREAM_HEARTBEAT": "1",
        "FX_SHUTDOWN_TIMEOUT": "10",
    }
    with Server(env, tmp_path / "server.log") as running:
        yield running.wait_healthy()


@pytest.mark.slow
def test_the_first_event_is_the_latest_body_and_a_change_gives_exactly_one_more(
    engine: Engine, database_url: str, server: Server
) -> None:
    settings = make_settings(database_url, role="api")
    _seed(engine, settings, server)
    latest = server.get("/rates/latest?currencies=KGS,UZS")
    reader = Reader(server.base_url + "/rates/stream?currencies=KGS,UZS")
    try:
        wait_for(lambda: reader.rates, what="the first event")
        assert reader.status == 200 and reader.headers is not None
        assert reader.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert reader.headers["cache-control"] == "no-cache"
        assert reader.events[0].retry is not None  # the browser is told how long to wait before reconnecting
        first = reader.rates[0]
        assert first.data is not None and first.data.encode() == latest.content
        assert first.id is not None and first.id.split(".")[0].isdigit()

        # Nothing changes: heartbeats only, no second event.
        wait_for(lambda: sum("keep-alive" in e.comments for e in reader.events) >= 2, 10, "two heartbeats")
        assert len(reader.rates) == 1

        _ingest(engine, settings, _page("0.01150"))
        wait_for(lambda: len(reader.rates) >= 2, 10, "the event of the change")
        changed = server.get("/rates/latest?currencies=KGS,UZS").content
        second = reader.rates[1]
        assert second.data is not None and second.data.encode() == changed
        assert json.loads(second.data)["rates"][0]["inverse"] == 0.0115  # the ticker's USD per som
        assert second.id != first.id
        time.sleep(2)  # several refreshes and heartbeats later: still exactly one event for the one change
        assert len(reader.rates) == 2
    finally:
        reader.close()


@pytest.mark.slow
def test_numbers_string_holds_for_every_event_pushed_and_on_the_fast_path(
    engine: Engine, database_url: str, server: Server
) -> None:
    """A change is rendered outside any request: each stream still gets the form its query asked for."""
    settings = make_settings(database_url, role="api")
    _seed(engine, settings, server)
    text, plain = (Reader(f"{server.base_url}/rates/stream?currencies=KGS{extra}") for extra in ("&numbers=string", ""))
    again = None
    try:
        wait_for(lambda: text.rates and plain.rates, what="the first events")
        _ingest(engine, settings, _page("0.01150"))
        wait_for(lambda: len(text.rates) >= 2 and len(plain.rates) >= 2, 10, "the events of the change")
        again = Reader(f"{server.base_url}/rates/stream?currencies=KGS&numbers=string")  # a query seen: fast path
        wait_for(lambda: again is not None and again.rates, what="the fast path's first event")

        def inverses(reader: Reader) -> list[object]:
            return [json.loads(e.data or "")["rates"][0]["inverse"] for e in reader.rates]

        assert inverses(text) == ["0.01144", "0.01150"]  # the ticker's digits, as printed
        assert inverses(plain) == [0.01144, 0.0115]
        assert inverses(again) == ["0.01150"]
    finally:
        for reader in (text, plain, again):
            if reader is not None:
                reader.close()


@pytest.mark.slow
def test_last_event_id_current_gets_no_duplicate_and_an_older_one_gets_the_body(
    engine: Engine, database_url: str, server: Server
) -> None:
    settings = make_settings(database_url, role="api")
    _seed(engine, settings, server)
    first = Reader(server.base_url + "/rates/stream")
    wait_for(lambda: first.rates, what="the first event")
    current = first.rates[0].id
    first.close()
    assert current is not None

    again = Reader(server.base_url + "/rates/stream", **{"Last-Event-ID": current})
    older = Reader(server.base_url + "/rates/stream", **{"Last-Event-ID": "0.0000000000"})
    try:
        wait_for(lambda: older.rates, what="the body for a client that is behind")
        assert older.rates[0].id == current
        wait_for(lambda: any("keep-alive" in e.comments for e in again.events), 10, "a heartbeat")
        assert again.rates == []  # it already has this body
        _ingest(engine, settings, _page("0.01151"))
        wait_for(lambda: again.rates, 10, "the next change")
        assert again.rates[0].id != current
    finally:
        again.close()
        older.close()


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("currencies=GBP", "unknown currency 'GBP'; valid codes: KGS, KZT, TJS, UZS, TMT, RUB, EUR, CNY"),
        ("source=nope", "unknown or disabled source 'nope'; enabled sources:"),
    ],
)
@pytest.mark.slow
def test_bad_parameters_are_a_422_before_any_stream(server: Server, query: str, detail: str) -> None:
    response = server.get(f"/rates/stream?{query}")
    assert response.status_code == 422
    assert detail in detail_of(response)


@pytest.mark.slow
def test_a_stalled_client_does_not_delay_the_others(engine: Engine, database_url: str, server: Server) -> None:
    settings = make_settings(database_url, role="api")
    _ingest(engine, settings, SEED.encode(), minutes_ago=1)
    # A client that connects, asks, and never reads a byte: its socket buffers fill, the server's writes to it stop.
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    stalled.connect(("127.0.0.1", server.port))
    stalled.sendall(b"GET /rates/stream HTTP/1.1\r\nHost: test\r\n\r\n")
    reader = Reader(server.base_url + "/rates/stream")
    try:
        wait_for(lambda: reader.rates, what="the first event")
        for n in range(60):
            _ingest(engine, settings, _page(f"0.0{1200 + n}"))
        last = f"0.0{1200 + 59}"
        started = time.monotonic()
        wait_for(lambda: reader.rates and last in (reader.rates[-1].data or ""), 15, "the last change")
        assert time.monotonic() - started < 10
        assert server.get("/health", timeout=5).status_code == 200
    finally:
        reader.close()
        stalled.close()


def test_a_slow_subscriber_skips_to_the_newest_body() -> None:
    subscriber = Subscriber(((), None, False))
    for n in range(100):
        subscriber.deliver((f"{n}.x", b"event %d" % n))
    assert subscriber.take() == b"event 99"  # one event kept, whatever it missed
    assert subscriber.take() is None
    subscriber.deliver(("99.x", b"event 99"))
    assert subscriber.take() is None  # never the same event twice


@pytest.mark.slow
def test_sigterm_closes_a_hundred_streams_within_the_shutdown_timeout(
    engine: Engine, database_url: str, server: Server
) -> None:
    settings = make_settings(database_url, role="api")
    _ingest(engine, settings, SEED.encode(), minutes_ago=1)
    ended: list[bool] = []

    async def subscribe(client: httpx.AsyncClient, opened: asyncio.Event, count: list[int]) -> None:
        async with client.stream("GET", server.base_url + "/rates/stream") as response:
            count[0] += 1
            if count[0] == 100:
                opened.set()
            async for _ in response.aiter_bytes():
                pass
        ended.append(True)  # the body ended cleanly: no reset, no error

    async def run() -> float:
        opened, count = asyncio.Event(), [0]
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=60), limits=limits) as client:
            tasks = [asyncio.create_task(subscribe(client, opened, count)) for _ in range(100)]
            await asyncio.wait_for(opened.wait(), 30)
            started = time.monotonic()
            os.kill(server.process.pid, signal.SIGTERM)
            await asyncio.wait_for(asyncio.gather(*tasks), 20)
            await asyncio.to_thread(server.process.wait, 20)
            return time.monotonic() - started

    seconds = asyncio.run(run())
    assert server.process.returncode == 0, server.output()
    assert len(ended) == 100
    assert seconds < 10, f"shutdown took {seconds:.1f} s with 100 open streams"


@pytest.mark.slow
def test_ticker_text_reads_back_to_the_same_rates_at_its_precision(
    engine: Engine, database_url: str, server: Server
) -> None:
    settings = make_settings(database_url, role="api")
    _ingest(engine, settings, SEED.encode(), minutes_ago=2)
    _ingest(engine, settings, _page("0.01150"))
    wait_for(lambda: "0.0115" in server.get("/rates/ticker.txt").text, what="the change to be served")
    latest = {r["currency"]: r for r in server.get("/rates/latest", timeout=5).json()["rates"]}
    for decimals in (5, 3, 8):
        response = server.get(f"/rates/ticker.txt?decimals={decimals}&currencies=UZS,KGS,TJS")
        assert response.status_code == 200 and response.headers["content-type"] == "text/plain; charset=utf-8"
        lines = response.text.splitlines()
        assert [line.split("/")[0] for line in lines] == ["KGS", "TJS", "UZS"]  # configured order
        parsed = ticker.parse(response.content, utcnow())
        for quote in parsed:
            exact = Decimal(str(latest[quote.currency]["inverse"]))  # the ticker's direction: USD per unit
            places = max(decimals, -exact.adjusted())
            assert quote.value.value == exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    kgs = server.get("/rates/ticker.txt?currencies=KGS").text
    assert kgs == "KGS/USD = 0.01150 0.52%\n"  # 0.01144 -> 0.01150: +0.524476 %
    tjs = server.get("/rates/ticker.txt?currencies=TJS").text
    assert tjs == "TJS/USD = 0.10567 -0.09%\n"  # no move seen yet: the change the ticker printed


@pytest.mark.slow
def test_a_query_seen_before_opens_the_same_stream_around_the_framework(
    engine: Engine, database_url: str, server: Server
) -> None:
    """The second stream of a query opens in the fast path (app.api.fastpath): same headers, same events."""
    _seed(engine, make_settings(database_url, role="api"), server)
    url = server.base_url + "/rates/stream?currencies=KGS,UZS"
    first = Reader(url)
    wait_for(lambda: first.rates, what="the first stream's event")
    second = Reader(url)
    try:
        wait_for(lambda: second.rates, what="the second stream's event")
        assert first.headers is not None and second.headers is not None
        assert {k: v for k, v in second.headers.items() if k != "date"} == {
            k: v for k, v in first.headers.items() if k != "date"
        }
        assert second.headers["x-content-type-options"] == "nosniff"
        assert second.rates[0].data == first.rates[0].data == server.get("/rates/latest?currencies=KGS,UZS").text
        _ingest(engine, make_settings(database_url, role="api"), _page("0.01151"))
        wait_for(lambda: len(first.rates) == 2 and len(second.rates) == 2, 10, "the change on both")
        assert first.rates[1].id == second.rates[1].id
    finally:
        first.close()
        second.close()
    for _ in range(2):  # a refused query is never remembered: it is refused again
        assert server.get("/rates/stream?currencies=GBP").status_code == 422
