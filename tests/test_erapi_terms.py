"""ExchangeRate-API within its open access terms: caching is allowed, serving its rates through an API is not.

By default (`FX_ERAPI_PLAN=open`) `erapi` is polled, stored and compared, and shown in /sources, but no answer, stream
or export carries a value of it, and `source=erapi` is refused with the reason. With `FX_ERAPI_PLAN=licensed` (the
operator's plan allows serving it) it is served as any other source. The upstream is the recorded response, through
httpx.MockTransport; everything else is real (the poller, the database, the app).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from freezegun import freeze_time
from sqlalchemy import Engine
from sqlmodel import Session

from app.api.app import create_app
from app.core.settings import Settings
from app.domain.freshness import State
from app.domain.quotes import Quote
from app.domain.values import Value
from app.ingest.pipeline import store_quotes
from app.ingest.poller import Poller
from app.read.query import latest_of
from app.sources import erapi
from app.sources.fetch import make_client
from app.sources.registry import cadence
from app.storage.lock import poller_lock
from tests.support import FIXTURES, at, make_settings

RECORDED = (FIXTURES / "erapi_latest_usd_2024-08-19.json").read_bytes()
POLLED = at("2024-08-19T05:00")  # its last update was 00:02:31 that day, the next one is due 20 August 00:06:21
NOW = POLLED + timedelta(minutes=10)
# What the recorded response says, in either direction, as an answer would write it.
ERAPI_NUMBERS = ("85.734152", "478.947251", "10.605885", "12707.572003", "3.500532", "0.0116638", "0.01166", "0.09429")

# Every data endpoint, as a client would ask it without naming a source.
DATA = [
    "/rates/latest",
    "/rates/latest?base=KZT",
    "/rates/ticker.txt",
    "/rates/at/2024-08-19T05:05:00Z",
    "/rates/KZT/history?start=2024-08-19&end=2024-08-20",
    "/rates/KZT/history?start=2024-08-19&end=2024-08-20&interval=1h",
    "/rates/history?start=2024-08-19&end=2024-08-20",
    "/rates/export.csv?start=2024-08-19&end=2024-08-20",
    "/rates/KZT/change?start=2024-08-19T05:00:00Z&end=2024-08-19T05:05:00Z",
    "/rates/changes?start=2024-08-19T05:00:00Z&end=2024-08-19T05:05:00Z",
    "/convert?from=KZT&to=USD&amount=1",
    "/currencies",
    "/widget",
]
# The same endpoints asked for erapi's values by name.
NAMED = [
    "/rates/latest?source=erapi",
    "/rates/ticker.txt?source=erapi",
    "/rates/stream?source=erapi",
    "/rates/at/2024-08-19T05:05:00Z?source=erapi",
    "/rates/KZT/history?source=erapi",
    "/rates/history?source=erapi",
    "/rates/export.csv?source=erapi",
    "/rates/KZT/change?source=erapi",
    "/rates/changes?source=erapi",
    "/convert?from=KZT&to=USD&amount=1&source=erapi",
]


def poll_erapi(engine: Engine, settings: Settings) -> None:
    """One poll of erapi by the real poller, the internet replaced by the recorded response."""

    def upstream(request: httpx.Request) -> httpx.Response:
        assert request.url == settings.source_url("erapi")
        return httpx.Response(200, content=RECORDED, headers={"Content-Type": "application/json"})

    async def poll() -> None:
        lock = poller_lock(engine)
        async with make_client(5.0, "fx-ticker-test", httpx.MockTransport(upstream)) as client:
            outcome = await Poller(engine, settings, client, lock, clock=lambda: POLLED).poll_source("erapi")
        lock.release()
        assert outcome is not None and outcome.ok, outcome

    asyncio.run(poll())


@pytest.fixture
def polled(engine: Engine, database_url: str) -> str:
    poll_erapi(engine, make_settings(database_url, sources="erapi"))
    return database_url


@pytest.fixture
def open_plan(polled: str) -> Iterator[TestClient]:
    """The API on the default settings (every source enabled, erapi on its open access terms), at NOW."""
    with freeze_time(NOW, real_asyncio=True), TestClient(create_app(make_settings(polled, role="api"))) as client:
        yield client


def leaks(text: str) -> list[str]:
    return [shown for shown in ("erapi", "exchangerate-api", *ERAPI_NUMBERS) if shown in text.lower()]


@pytest.mark.parametrize("path", DATA)
def test_by_default_no_answer_carries_an_erapi_value(open_plan: TestClient, path: str) -> None:
    """Only erapi has data: nothing of it is served, whichever endpoint asks."""
    response = open_plan.get(path)
    assert response.status_code in (200, 404), response.text
    assert leaks(response.text) == [], response.text


def test_by_default_latest_and_the_stream_have_no_rate(open_plan: TestClient) -> None:
    assert open_plan.get("/rates/latest").json() == {"base": "USD", "as_of": None, "rates": []}
    hub: Any = open_plan.app.state.stream  # type: ignore[attr-defined]
    _, event = hub.current(((), None, False))  # the first event a new subscriber of /rates/stream gets
    assert b'"rates":[]' in event and leaks(event.decode()) == []


@pytest.mark.parametrize("path", NAMED)
def test_by_default_source_erapi_is_refused_with_the_reason(open_plan: TestClient, path: str) -> None:
    response = open_plan.get(path)
    assert response.status_code == 403, response.text
    detail = response.json()["detail"]
    assert detail.startswith("source 'erapi' is a cross-check only: ExchangeRate-API's open access terms forbid")
    assert "set FX_ERAPI_PLAN=licensed (docs/sources.md#erapi-a-cross-check-only)" in detail
    assert detail.endswith("; served sources: nbk, nbkr, nbt, cbu, cbt, peg, ticker")


def test_by_default_sources_shows_erapi_and_it_still_flags_a_spread(engine: Engine, polled: str) -> None:
    """The cross-check: a ticker value 13% away from erapi's is flagged against it."""
    settings = make_settings(polled)
    kgs = Quote("KGS", "ticker", Value(Decimal("0.01300"), per_usd=False), POLLED + timedelta(minutes=5))
    outcome = store_quotes(engine, settings, "ticker", [kgs], started_at=kgs.observed_at, entries_seen=1)
    assert outcome.result is not None and "differs" in outcome.summary(), outcome.summary()
    with freeze_time(NOW, real_asyncio=True), TestClient(create_app(make_settings(polled, role="api"))) as client:
        shown = {source["name"]: source for source in client.get("/sources").json()["sources"]}
        latest = client.get("/rates/latest").json()
    erapi, ticker = shown["erapi"], shown["ticker"]
    assert (erapi["enabled"], erapi["served"], erapi["last_success"]) == (True, False, "2024-08-19T05:00:00Z")
    assert (erapi["publishes"], shown["nbk"]["publishes"], ticker["publishes"]) == ("announced", "daily", "intraday")
    assert "FX_ERAPI_PLAN=licensed" in erapi["not_served_because"]
    assert erapi["spans_stored"] == 5
    assert (ticker["served"], ticker["not_served_because"]) == (True, None)
    ((flag),) = ticker["recent_flags"]
    assert (flag["currency"], flag["kind"]) == ("KGS", "spread") and "from erapi" in flag["detail"]
    # The ticker's value is served; erapi's, which it was compared with, is not.
    assert [(r["currency"], r["source"]) for r in latest["rates"]] == [("KGS", "ticker")]
    assert "attribution" not in latest


def test_a_plan_that_allows_serving_serves_erapi_as_before(polled: str) -> None:
    settings = make_settings(polled, role="api", erapi_plan="licensed")
    with freeze_time(NOW, real_asyncio=True), TestClient(create_app(settings)) as client:
        latest = client.get("/rates/latest").json()
        named = client.get("/rates/latest", params={"source": "erapi"}).json()
        csv = client.get("/rates/export.csv", params={"start": "2024-08-19", "end": "2024-08-20"}).text
        history = client.get("/rates/KZT/history", params={"start": "2024-08-19", "end": "2024-08-20"}).json()
        currencies = client.get("/currencies").json()["currencies"]
        (erapi,) = [s for s in client.get("/sources").json()["sources"] if s["name"] == "erapi"]
        _, event = client.app.state.stream.current(((), None, False))  # type: ignore[attr-defined]
    assert latest == named
    assert [(r["currency"], r["source"], r["rate"]) for r in latest["rates"]] == [
        ("KGS", "erapi", 85.734152), ("KZT", "erapi", 478.947251), ("TJS", "erapi", 10.605885),
        ("UZS", "erapi", 12707.572003), ("TMT", "erapi", 3.500532),
    ]  # fmt: skip
    assert latest["attribution"] == ["Rates By Exchange Rate API: https://www.exchangerate-api.com"]
    assert csv.count(",erapi") == 5 and "478.947251" in csv
    assert (history["source"], len(history["points"])) == ("erapi", 1)
    assert [c["sources"] for c in currencies] == [["erapi"]] * 5 + [[]] * 3  # no RUB, EUR, CNY in the payload
    assert (erapi["served"], erapi["not_served_because"]) == (True, None)
    assert b"478.947251" in event


# --- freshness: the day it publishes, not an intraday gap ----------------------------------------------------------

NEXT_UPDATE = at("2024-08-20T00:06:21")  # the recorded response's time_next_update_utc
GRACE = timedelta(hours=3)  # FX_SOURCE_ERAPI_MAX_GAP by default: three polls to see the next update


def test_a_stored_value_keeps_its_announced_next_update(engine: Engine, polled: str) -> None:
    settings = make_settings(polled)
    rule = cadence(settings, "erapi")
    with Session(engine) as session:
        found = latest_of(session, [(c, "erapi") for c in settings.currencies])
    assert {row.next_update for row in found.values()} == {NEXT_UPDATE}
    kzt = found["KZT", "erapi"]
    # Fresh all day long although unseen since 05:00 (the old rule: stale three hours after its last sighting)...
    assert rule.state(kzt, POLLED + timedelta(hours=4)) is State.FRESH
    assert rule.state(kzt, NEXT_UPDATE + GRACE - timedelta(seconds=1)) is State.FRESH
    # ...and no longer once the next update is due and the poller had its time to see it.
    assert rule.stale_at(kzt) == NEXT_UPDATE + GRACE
    assert not rule.state(kzt, NEXT_UPDATE + GRACE + timedelta(seconds=1)).in_force
    # The same response seen again after its next update was due: the feed did not move on; stale, in force.
    seen_again = NEXT_UPDATE + GRACE
    again = store_quotes(engine, settings, "erapi", _recorded(seen_again), started_at=seen_again, entries_seen=5)
    assert again.result is not None
    with Session(engine) as session:
        kzt = latest_of(session, [("KZT", "erapi")])["KZT", "erapi"]
    assert rule.state(kzt, NEXT_UPDATE + GRACE + timedelta(hours=1)) is State.STALE


def _recorded(observed_at: datetime) -> list[Quote]:
    return erapi.parse(RECORDED, observed_at)


@pytest.mark.parametrize(
    ("now", "stale"),
    [
        (POLLED + timedelta(hours=4), False),  # unseen for 4 hours: fresh, its next update is not due
        (NEXT_UPDATE + timedelta(hours=2), False),  # the next update is due, and the poller has time to see it
        (NEXT_UPDATE + GRACE + timedelta(minutes=1), True),  # it should have been seen by now
    ],
)
def test_with_a_plan_that_allows_serving_its_stale_flag_follows_the_next_update(
    polled: str, now: datetime, stale: bool
) -> None:
    settings = make_settings(polled, role="api", erapi_plan="licensed")
    with freeze_time(now, real_asyncio=True), TestClient(create_app(settings)) as client:
        latest = client.get("/rates/latest", params={"currencies": "KZT"}).json()["rates"]
        converted = client.get("/convert", params={"from": "KZT", "to": "USD", "amount": "1"}).json()
    assert [(r["source"], r["stale"]) for r in latest] == [("erapi", stale)]
    assert converted["sources"]["KZT"]["stale"] is stale


def test_a_cross_check_value_counts_against_the_others_until_its_next_update(engine: Engine, polled: str) -> None:
    """A ticker value 15 hours after erapi's poll is still compared with it: erapi's day is not over."""
    settings = make_settings(polled)
    seen = POLLED + timedelta(hours=15)
    kgs = Quote("KGS", "ticker", Value(Decimal("0.01300"), per_usd=False), seen)
    outcome = store_quotes(engine, settings, "ticker", [kgs], started_at=seen, entries_seen=1)
    assert "flagged: KGS from ticker: differs" in outcome.summary() and "from erapi" in outcome.summary()
    after = NEXT_UPDATE + GRACE + timedelta(minutes=1)  # erapi's value is over: no one's word any more
    later = Quote("KGS", "ticker", Value(Decimal("0.01400"), per_usd=False), after)
    assert (
        "differs" not in store_quotes(engine, settings, "ticker", [later], started_at=after, entries_seen=1).summary()
    )
