"""What depends on the clock, seen through HTTP with the clock frozen and moved (freezegun; asyncio keeps its
own clock, so the app's background refresh runs as usual): a rate turning stale, how long a client may cache,
and the default ranges that end "now"."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
from fastapi.testclient import TestClient
from freezegun import freeze_time
from sqlalchemy import Engine

from app.api.app import create_app
from app.core.settings import Settings
from app.domain.quotes import Quote
from app.domain.values import Value
from app.ingest.pipeline import process, store_quotes
from app.sources import ticker
from app.sources.registry import cadence
from tests.support import SEED_PAGE, at, make_settings

SEEN = at("2026-02-23T10:00")


def _settings(database_url: str) -> Settings:
    return make_settings(database_url, role="api", sources="ticker", refresh_seconds=0.05)


def _poll(engine: Engine, settings: Settings, when: datetime) -> None:
    process(engine, settings, ticker.SPEC, SEED_PAGE.read_bytes(), observed_at=when, started_at=when)


def _eventually(client: TestClient, path: str, wanted: Callable[[httpx.Response], bool]) -> httpx.Response:
    deadline = time.monotonic() + 5  # the app notices within a refresh (0.05 s) of the clock moving
    while True:
        response: httpx.Response = client.get(path)
        if wanted(response) or time.monotonic() > deadline:
            return response
        time.sleep(0.02)


def _max_age(response: httpx.Response) -> int:
    return int(response.headers["cache-control"].split("max-age=")[1])


def test_a_rate_turns_stale_at_its_bound_and_clients_cache_only_until_the_next_poll(
    engine: Engine, database_url: str
) -> None:
    settings = _settings(database_url)
    _poll(engine, settings, SEEN)
    rule = cadence(settings, "ticker")
    interval = int(rule.interval.total_seconds())
    with freeze_time(SEEN + timedelta(seconds=60), real_asyncio=True) as clock, TestClient(create_app(settings)) as c:
        fresh = c.get("/rates/latest?currencies=KGS")
        assert fresh.json()["rates"][0]["stale"] is False
        assert _max_age(fresh) == interval - 60  # the next poll is due `interval` after the last sighting

        clock.move_to(SEEN + timedelta(seconds=interval + 5))  # the poll is late: nothing to wait for
        assert _max_age(c.get("/rates/latest?currencies=KGS")) == 0

        clock.move_to(rule.stale_at(_seen(c)) + timedelta(seconds=1))
        stale = _eventually(c, "/rates/latest?currencies=KGS", lambda r: r.json()["rates"][0]["stale"])
        assert stale.json()["rates"][0]["stale"] is True
        assert stale.headers["etag"] != fresh.headers["etag"]  # a new body: caches must not keep the fresh one
        assert c.get("/convert?from=KGS&to=USD&amount=1").json()["sources"]["KGS"]["stale"] is True


def _seen(client: TestClient) -> _Seen:
    row = client.get("/rates/latest?currencies=KGS").json()["rates"][0]
    return _Seen(datetime.fromisoformat(row["since"]), datetime.fromisoformat(row["last_seen"]))


class _Seen:
    """What the freshness rule reads of a value: when it was first and last seen (an intraday source: no date, no
    announced next update)."""

    def __init__(self, first_seen: datetime, last_seen: datetime) -> None:
        self.first_seen, self.last_seen, self.effective_date = first_seen, last_seen, None
        self.next_update: datetime | None = None


def test_default_ranges_end_now(engine: Engine, database_url: str) -> None:
    settings = _settings(database_url)
    _poll(engine, settings, SEEN)
    history = "/rates/KZT/history?interval=1h"
    now = SEEN + timedelta(hours=2, minutes=30)
    with freeze_time(now, real_asyncio=True) as clock, TestClient(create_app(settings)) as c:
        answer = c.get(history).json()
        assert answer["points"][-1]["t"] == "2026-02-23T12:00:00Z"  # the last bucket is the one holding "now"
        assert any(p["open"] is not None for p in answer["points"])
        change = c.get("/rates/KZT/change").json()  # the last 24 hours
        assert change["end_at"] == "2026-02-23T10:15:00Z"  # the value lapsed then (unseen for its max gap)

        clock.move_to(SEEN + timedelta(days=40))  # past the default 30 days: the poll is out of range
        later = c.get(history).json()
        assert later["points"][-1]["t"] == "2026-04-04T10:00:00Z"
        assert all(p["open"] is None for p in later["points"])
        assert c.get("/rates/KZT/change").status_code == 404


def test_the_current_bucket_is_averaged_up_to_now_not_over_its_future(engine: Engine, database_url: str) -> None:
    """A value still in force holds on, but the part of the bucket that has not happened yet weighs nothing."""
    settings = _settings(database_url)
    first, second = Value(Decimal("0.01144"), per_usd=False), Value(Decimal("0.01150"), per_usd=False)
    for value, minutes in ((first, 0), (first, 10), (second, 20)):  # polls 10 minutes apart: no gap between them
        when = SEEN + timedelta(minutes=minutes)
        quote = Quote("KGS", "ticker", value, when)
        store_quotes(engine, settings, "ticker", [quote], started_at=when, entries_seen=1)
    # At 10:30: 0.01144 for 20 minutes, then 0.01150 for 10 (the 30 minutes after now are not known yet; the
    # whole bucket would weigh the second value until its hold ran out at 10:35). The average is of rate, som per
    # dollar: (20 / 0.01144 + 10 / 0.01150) / 30, at 15 significant digits.
    expected = Decimal("87.2605655214351")
    with freeze_time(SEEN + timedelta(minutes=30), real_asyncio=True), TestClient(create_app(settings)) as c:
        (bucket,) = c.get("/rates/KGS/history?interval=1h&start=2026-02-23T10:00").json()["points"]
        assert Decimal(str(bucket["average"])) == expected
        assert (bucket["open"], bucket["close"]) == (87.4125874125874, 86.9565217391304)
        csv = c.get("/rates/export.csv?currencies=KGS&interval=1h&start=2026-02-23T10:00").text.splitlines()
        assert csv[1].split(",")[4] == str(bucket["average"])
        later = c.get("/rates/KGS/history?interval=1h&start=2026-02-23T09:00&end=2026-02-23T09:59").json()
        assert later["points"][0]["open"] is None  # and a bucket before any data stays empty


def test_a_value_seen_this_minute_is_in_the_current_bucket(engine: Engine, database_url: str) -> None:
    settings = _settings(database_url)
    seen = SEEN + timedelta(minutes=30, seconds=20)
    _poll(engine, settings, seen)
    with freeze_time(seen + timedelta(seconds=10), real_asyncio=True), TestClient(create_app(settings)) as c:
        (bucket,) = c.get("/rates/KGS/history?interval=1h&start=2026-02-23T10:00").json()["points"]
        assert (bucket["open"], bucket["close"], bucket["average"]) == (87.4125874125874,) * 3
        csv = c.get("/rates/export.csv?currencies=KGS&interval=1h&start=2026-02-23T10:00").text.splitlines()
        assert csv[1].startswith("2026-02-23T10:00:00Z,KGS,USD/KGS,87.4125874125874,87.4125874125874,0.01144,")
