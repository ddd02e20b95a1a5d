"""Every source polled end to end from a local server that serves the recorded payloads, then changed ones."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.api.app import create_app
from app.core.settings import Settings
from app.domain.outcome import PollOutcome
from app.ingest.pipeline import Outcome
from app.ingest.poller import Poller
from app.sources.fetch import make_client
from app.storage.lock import poller_lock
from app.storage.models import PollLog, RateSpan
from tests.support import FIXTURES, Upstream, at, make_settings


@dataclass(frozen=True)
class Case:
    source: str
    url: str  # path template on the local server
    first: tuple[str, bytes]  # (path, body) on day one
    second: tuple[str, bytes]  # (path, body) the next day: a new value, or the same one after a gap
    day_one: datetime  # the poller's clock on day one
    expected: dict[str, list[str]]  # currency -> stored values, oldest first, after both days


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


NBKR_NEXT = fixture("nbkr_daily_2026-05-24.xml").replace(b"24.05.2026", b"25.05.2026").replace(b"87,4500", b"87,5100")
ERAPI_NEXT = (
    fixture("erapi_latest_usd_2024-08-19.json")
    .replace(b"478.947251", b"480.1")
    .replace(b"1724025751", b"1724112381")
    .replace(b"Mon, 19 Aug 2024 00:02:31", b"Tue, 20 Aug 2024 00:06:21")
)
TICKER = fixture("ticker-page-2026-02-23.txt")

CASES = [
    Case(
        "nbk", "/nbk?fdate={date:%d.%m.%Y}",
        ("/nbk?fdate=01.04.2026", fixture("nbk_get_rates_2026-04-01.xml")),
        ("/nbk?fdate=02.04.2026", fixture("nbk_get_rates_2026-04-02.xml")),
        at("2026-04-01T04:00"), {"KZT": ["478.77", "475.09"]},
    ),
    Case(
        "nbkr", "/nbkr/daily.xml",
        ("/nbkr/daily.xml", fixture("nbkr_daily_2026-05-24.xml")),
        ("/nbkr/daily.xml", NBKR_NEXT),
        at("2026-05-24T00:30"), {"KGS": ["87.4500", "87.5100"]},  # 06:30 in Bishkek on the 24th
    ),
    Case(
        "nbt", "/nbt?date={date:%Y-%m-%d}&export=xmlout",
        ("/nbt?date=2026-05-18&export=xmlout", fixture("nbt_export_2026-05-18.xml")),
        ("/nbt?date=2026-05-19&export=xmlout", fixture("nbt_export_2026-05-19.xml")),
        at("2026-05-18T04:00"), {"TJS": ["9.3450", "9.3371"]},
    ),
    Case(
        "cbu", "/cbu/{date:%Y-%m-%d}/",
        ("/cbu/2026-04-01/", fixture("cbu_all_2026-04-01.json")),
        ("/cbu/2026-04-02/", fixture("cbu_all_2026-04-02.json")),
        at("2026-04-01T04:00"), {"UZS": ["12194.21", "12142.10"]},
    ),
    Case(
        "cbt", "/cbt/{date:%d%m%Y}.xml",
        ("/cbt/20052026.xml", fixture("cbt_kurs_2026-05-20.xml")),
        ("/cbt/21052026.xml", fixture("cbt_kurs_2026-05-21.xml")),
        at("2026-05-20T04:00"), {"TMT": ["3.5", "3.5"]},  # the same peg value, but a day apart: a gap
    ),
    Case(
        "erapi", "/erapi/latest",
        ("/erapi/latest", fixture("erapi_latest_usd_2024-08-19.json")),
        ("/erapi/latest", ERAPI_NEXT),
        at("2024-08-19T06:00"),
        {
            "KGS": ["85.734152", "85.734152"], "KZT": ["478.947251", "480.1"], "TJS": ["10.605885", "10.605885"],
            "UZS": ["12707.572003", "12707.572003"], "TMT": ["3.500532", "3.500532"],
        },
    ),
    Case(
        "ticker", "/ticker/",
        ("/ticker/", TICKER),
        ("/ticker/", TICKER.replace(b"0.10567", b"0.10571")),
        at("2026-02-23T10:00"),
        {
            "KGS": ["0.01144", "0.01144"], "KZT": ["0.00201", "0.00201"], "TJS": ["0.10567", "0.10571"],
            "UZS": ["0.00008", "0.00008"], "TMT": ["0.28571", "0.28571"],
        },
    ),
]  # fmt: skip


def _settings(database_url: str, upstream: Upstream, case: Case) -> Settings:
    # The currencies of `expected` only: a bank's other rows are stored too when served (tests/test_bank_tables.py).
    return make_settings(
        database_url,
        sources=case.source,
        currencies=",".join(case.expected),
        **{f"source_{case.source}_url": upstream.url(case.url)},
        role="api",
    )


def _poll(engine: Engine, settings: Settings, source: str, when: datetime) -> Outcome:
    async def run() -> Outcome:
        lock = poller_lock(engine)
        try:
            async with make_client(5.0, "fx-ticker-test") as client:
                outcome = await Poller(engine, settings, client, lock, clock=lambda: when).poll_source(source)
        finally:
            lock.release()
        assert outcome is not None
        return outcome

    return asyncio.run(run())


def _series(engine: Engine, source: str) -> dict[str, list[RateSpan]]:
    with Session(engine) as session:
        spans = session.exec(select(RateSpan).where(RateSpan.source == source).order_by(col(RateSpan.first_seen)))
        found: dict[str, list[RateSpan]] = {}
        for span in spans:
            found.setdefault(span.currency, []).append(span)
        return found


@pytest.mark.parametrize("case", CASES, ids=[c.source for c in CASES])
def test_poll_then_poll_again_then_the_next_day(engine: Engine, database_url: str, case: Case) -> None:
    with Upstream() as upstream:
        settings = _settings(database_url, upstream, case)
        upstream.serve(case.first[0], case.first[1])
        first = _poll(engine, settings, case.source, case.day_one)
        assert first.result is not None and first.result.opened == len(case.expected), first.summary()

        again = _poll(engine, settings, case.source, case.day_one + timedelta(minutes=10))
        assert again.result is not None
        assert (again.result.opened, again.result.extended) == (0, len(case.expected))

        upstream.serve(case.second[0], case.second[1])
        _poll(engine, settings, case.source, case.day_one + timedelta(days=1))

    series = _series(engine, case.source)
    assert {c: [s.value for s in spans] for c, spans in series.items()} == case.expected
    for spans in series.values():
        assert [s.observations for s in spans] == [2, 1]
        assert spans[0].last_seen == case.day_one + timedelta(minutes=10)


def test_an_unchanged_answer_is_confirmed_without_reparsing(engine: Engine, database_url: str) -> None:
    case = CASES[0]
    with Upstream() as upstream:
        settings = _settings(database_url, upstream, case)
        upstream.serve(case.first[0], case.first[1], ETag='"v1"')

        async def twice() -> Outcome | None:
            lock = poller_lock(engine)
            now = [case.day_one]
            async with make_client(5.0, "fx-ticker-test") as client:
                poller = Poller(engine, settings, client, lock, clock=lambda: now[0])
                await poller.poll_source("nbk")
                # The same URL answers 304 now; a body that would not parse proves nothing is re-read.
                upstream.routes[case.first[0]] = (200, b"<garbage", {"ETag": '"v1"'})
                now[0] += timedelta(minutes=30)
                second = await poller.poll_source("nbk")
            lock.release()
            return second

        outcome = asyncio.run(twice())
        assert upstream.not_modified == 1
    assert outcome is not None and outcome.result is not None
    assert (outcome.result.outcome, outcome.result.extended) == ("unchanged", 1)
    (span,) = _series(engine, "nbk")["KZT"]
    assert (span.value, span.observations) == ("478.77", 2)


def test_a_dated_feed_answering_another_day_is_rejected(engine: Engine, database_url: str) -> None:
    case = CASES[2]  # NBT answers a day it lacks with another day's rates
    with Upstream() as upstream:
        settings = _settings(database_url, upstream, case)
        upstream.serve("/nbt?date=2026-05-20&export=xmlout", fixture("nbt_export_2026-05-19.xml"))
        outcome = _poll(engine, settings, "nbt", at("2026-05-20T04:00"))
    assert outcome.ok and outcome.result is None
    assert _series(engine, "nbt") == {}
    with Session(engine) as session:
        row = session.exec(select(PollLog)).one()
    assert row.outcome == "rejected"
    assert row.rejections == "TJS from nbt: feed answered with rates for 2026-05-19 when asked for 2026-05-20"


def test_all_sources_then_best_quote_and_provenance(engine: Engine, database_url: str) -> None:
    """KZT from the bank when it is fresh; ?source= asks for one source; TMT falls back to the peg."""
    with Upstream() as upstream:
        for case in (CASES[0], CASES[6]):
            settings = _settings(database_url, upstream, case)
            upstream.serve(case.first[0], case.first[1])
            _poll(engine, settings, case.source, case.day_one)
    settings = make_settings(database_url, role="api")
    with TestClient(create_app(settings)) as client:
        latest = {r["currency"]: r for r in client.get("/rates/latest").json()["rates"]}
        ticker_only = client.get("/rates/latest", params={"source": "ticker", "currencies": "KZT"}).json()
        bad = client.get("/rates/latest", params={"source": "xe"})
    # The bank's rate of 2026-04-01 is weeks old by now: stale, so the ticker (also old) is not better;
    # everything is stale and the first source in order of preference is shown, flagged.
    assert latest["KZT"]["source"] == "nbk" and latest["KZT"]["stale"] is True
    assert latest["KZT"]["rate"] == 478.77  # tenge per dollar, as NBK published it
    assert Decimal(str(latest["KZT"]["inverse"])) == Decimal("0.00208868559015811")  # 1 / 478.77 at 15 digits
    assert ticker_only["rates"][0]["source"] == "ticker" and ticker_only["rates"][0]["inverse"] == 0.00201
    assert ticker_only["rates"][0]["rate"] == 497.512437810945  # 1 / 0.00201 at 15 digits
    assert bad.status_code == 422 and "enabled sources: nbk, nbkr" in bad.json()["detail"]


def test_a_rate_announced_for_tomorrow_waits_until_it_is_in_force(engine: Engine, database_url: str) -> None:
    """NBKR's daily.xml carries tomorrow's rate from the afternoon on: kept as announced, the rate for its date
    alone, and stored as the rate in force only once its day has come."""
    case = CASES[1]
    api = make_settings(database_url, role="api")
    with Upstream() as upstream, TestClient(create_app(api)) as client:
        settings = _settings(database_url, upstream, case)
        upstream.serve(case.first[0], case.first[1])  # effective 2026-05-24
        early = _poll(engine, settings, "nbkr", at("2026-05-23T12:00"))  # 18:00 on the 23rd in Bishkek
        assert _series(engine, "nbkr") == {}
        announced = client.get("/rates/on/2026-05-24", params={"source": "nbkr", "currencies": "KGS"}).json()
        before = client.get("/rates/at/2026-05-23T17:59:00Z", params={"source": "nbkr"})
        on_time = _poll(engine, settings, "nbkr", at("2026-05-23T18:30"))  # 00:30 on the 24th in Bishkek
        in_force = client.get("/rates/on/2026-05-24", params={"source": "nbkr", "currencies": "KGS"}).json()
    assert early.ok and early.status is PollOutcome.OK and early.result is not None
    assert (early.result.opened, early.result.announced) == (0, 1)
    ((kgs,),) = (announced["rates"],)
    assert (kgs["rate"], kgs["effective_date"], kgs["announced"]) == (87.45, "2026-05-24", True)
    assert before.json()["rates"] == []  # never in force before its date
    assert on_time.result is not None and on_time.result.opened == 1
    ((kgs,),) = (in_force["rates"],)
    assert (kgs["rate"], kgs["effective_date"], kgs["announced"]) == (87.45, "2026-05-24", False)
