"""One rule for "the rate at T" (app.read.inforce), through /rates/at, /convert?at= and the change windows.

Hand-built: NBK publishes KZT for 2 April at its local midnight (UTC+5), 19:05 UTC on 1 April, and is polled at :05
and :35 of every hour (its poll log), one poll failing; the value is first stamped two seconds after its poll began.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from app.core.clock import utcnow
from app.core.jsonenc import iso
from app.read.inforce import last_poll
from app.storage.models import PollLog
from tests.series import day, serve, span
from tests.support import at

PUBLISHED = at("2026-04-01T19:05:02")  # the poll began at 19:05:00; its answer was stamped two seconds later
NBK_KZT = span("KZT", "nbk", "472.31", True, PUBLISHED, at("2026-04-02T19:00"), effective_date=day("2026-04-02"))


def exact(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return json.loads(response.content, parse_float=Decimal, parse_int=Decimal)


def _polls(engine: Engine, source: str, first: datetime, last: datetime, failed: set[datetime]) -> None:
    """A successful poll of `source` at :05 and :35 of every hour from `first` to `last` (`failed`: errors)."""
    rows, moment = [], first
    while moment <= last:
        outcome = "error" if moment in failed else "ok"
        rows.append({"source": source, "started_at": moment, "finished_at": moment + timedelta(seconds=3),
                     "outcome": outcome, "poller": "test:1", "entries_seen": 1})  # fmt: skip
        moment += timedelta(minutes=30)
    with engine.begin() as conn:
        conn.execute(insert(PollLog.__table__), rows)  # type: ignore[attr-defined]


@pytest.fixture
def nbk(engine: Engine, database_url: str) -> Iterator[TestClient]:
    _polls(engine, "nbk", at("2026-04-01T19:05"), at("2026-04-02T19:05"), failed={at("2026-04-02T11:35")})
    with serve(engine, database_url, [NBK_KZT]) as client:
        yield client


def test_the_effective_date_at_an_instant_is_the_date_in_the_sources_own_zone(nbk: TestClient) -> None:
    """At 19:30 UTC on 1 April it is 00:30 on 2 April in Almaty: the fixing for 2 April is in force, dated so."""
    (kzt,) = exact(nbk.get("/rates/at/2026-04-01T19:30", params={"currencies": "KZT"}))["rates"]
    assert (kzt["source"], kzt["rate"], kzt["effective_date"]) == ("nbk", Decimal("472.31"), "2026-04-02")
    (v1,) = exact(nbk.get("/v1/rates/at/2026-04-01T19:30", params={"currencies": "KZT"}))["rates"]
    assert v1["effective_date"] == "2026-04-02"


def test_last_seen_at_an_instant_is_the_last_successful_poll_at_or_before_it(nbk: TestClient) -> None:
    (kzt,) = exact(nbk.get("/rates/at/2026-04-02T12:00", params={"currencies": "KZT"}))["rates"]
    # polled at 11:05 and 11:35; the 11:35 poll failed, so the value was last seen at 11:05, not at 12:00
    assert (kzt["since"], kzt["last_seen"]) == ("2026-04-01T19:05:02Z", "2026-04-02T11:05:00Z")
    (late,) = exact(nbk.get("/rates/at/2026-04-02T12:10", params={"currencies": "KZT"}))["rates"]
    assert late["last_seen"] == "2026-04-02T12:05:00Z"
    (first,) = exact(nbk.get("/rates/at/2026-04-01T19:30", params={"currencies": "KZT"}))["rates"]
    # the poll that first saw it began at 19:05:00, before its answer was stamped: the sighting is 19:05:02
    assert (first["since"], first["last_seen"]) == ("2026-04-01T19:05:02Z", "2026-04-01T19:05:02Z")
    (after,) = exact(nbk.get("/rates/at/2026-04-03T00:00", params={"currencies": "KZT"}))["rates"]
    assert after["last_seen"] == "2026-04-02T19:00:00Z"  # past its last sighting: that sighting
    converted = exact(nbk.get("/convert", params={"from": "KZT", "to": "USD", "amount": "1", "at": "2026-04-02T12:00"}))
    assert converted["sources"]["KZT"] == {
        "source": "nbk",
        "rate": Decimal("472.31"),
        "since": "2026-04-01T19:05:02Z",
        "last_seen": "2026-04-02T11:05:00Z",
        "stale": False,
    }


def test_without_a_source_each_endpoint_takes_the_best_source_as_of_the_instant(
    engine: Engine, database_url: str
) -> None:
    """Today NBK is the best source of KZT; two days ago only erapi had a rate in force. /rates/at answered from
    erapi then; /convert?at=, /change, history and export must too, not refuse because today's source had nothing
    then."""
    now = utcnow().replace(microsecond=0)
    then = now - timedelta(days=2)
    rows = [
        span("KZT", "nbk", "472.31", True, now - timedelta(hours=1), now, effective_date=now.date()),
        span("KZT", "erapi", "470", True, then - timedelta(hours=1), then - timedelta(minutes=20)),
        span("KZT", "erapi", "475", True, then - timedelta(minutes=10), then + timedelta(minutes=10)),
    ]
    with serve(engine, database_url, rows) as client:
        (latest,) = exact(client.get("/rates/latest", params={"currencies": "KZT"}))["rates"]
        assert latest["source"] == "nbk"
        (then_,) = exact(client.get(f"/rates/at/{iso(then)}", params={"currencies": "KZT"}))["rates"]
        assert (then_["source"], then_["rate"]) == ("erapi", Decimal("475"))
        params = {"from": "KZT", "to": "USD", "amount": "950", "at": iso(then)}
        converted = exact(client.get("/convert", params=params))
        assert (converted["sources"]["KZT"]["source"], converted["result"]) == ("erapi", Decimal("2"))
        window = {"start": iso(then - timedelta(minutes=30)), "end": iso(then)}
        moved = exact(client.get("/rates/KZT/change", params=window))
        assert (moved["source"], moved["start_rate"], moved["end_rate"]) == ("erapi", Decimal("470"), Decimal("475"))
        assert (moved["start_at"], moved["end_at"]) == (window["start"], window["end"])
        changes = exact(client.get("/rates/changes", params={**window, "currencies": "KZT"}))["changes"]
        assert [(c["source"], c["change"]) for c in changes] == [("erapi", Decimal("5"))]
        named = client.get("/convert", params={**params, "source": "nbk"})
        assert named.status_code == 404  # a source named is that source: it had nothing then
        # A past range is answered from the source best at its end; one reaching now, from today's best.
        past = exact(client.get("/rates/KZT/history", params=window))
        assert (past["source"], [p["rate"] for p in past["points"]]) == ("erapi", [Decimal("470"), Decimal("475")])
        several = exact(client.get("/rates/history", params={**window, "currencies": "KZT"}))["series"]
        assert [s_["source"] for s_ in several] == ["erapi"]
        export = client.get("/rates/export.csv", params={**window, "currencies": "KZT"}).text
        assert [row.rsplit(",", 1)[1] for row in export.split()[1:]] == ["erapi", "erapi"]
        recent = exact(client.get("/rates/KZT/history", params={"start": iso(then)}))
        assert recent["source"] == "nbk"


def test_the_last_poll_is_found_by_the_poll_logs_index(engine: Engine) -> None:
    """One walk back along (source, started_at), never a scan of the poll log nor a sort."""
    statement = last_poll("nbk", at("2026-04-01T19:00"), at("2026-04-02T12:00"))
    compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.begin() as conn:  # one transaction: SET LOCAL ends with it
        if engine.dialect.name == "sqlite":
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
            assert "USING INDEX ix_poll_log_source_started" in plan and "TEMP B-TREE" not in plan, plan
        else:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a handful of rows: make the planner show its way
            plan = " ".join(str(row[0]) for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
            assert "ix_poll_log_source_started" in plan and "Sort" not in plan, plan
