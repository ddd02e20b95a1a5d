"""`/rates/{currency}/change` and `/rates/changes` over the hand-built series (tests/series.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.core.clock import utcnow
from app.core.jsonenc import iso
from tests.series import serve, span


@pytest.fixture
def client(engine: Engine, database_url: str) -> Iterator[TestClient]:
    with serve(engine, database_url) as client:
        yield client


def test_change_between_two_times(client: TestClient) -> None:
    response = client.get("/rates/KZT/change", params={"start": "2026-01-01T01:35", "end": "2026-01-01T02:00"})
    assert response.status_code == 200
    assert response.json() == {
        "currency": "KZT",
        "source": "erapi",
        "start_at": "2026-01-01T01:35:00Z",
        "start_rate": 400,  # S2, begun at 01:30: tenge per dollar
        "end_at": "2026-01-01T02:00:00Z",
        "end_rate": 250,  # S3
        "change": -150,
        "change_pct": -37.5,  # of rate as written: the tenge strengthened, fewer of it buy a dollar
    }
    assert b'"change":-150,' in response.content


def test_a_window_that_starts_before_the_first_span_starts_at_the_first_value(client: TestClient) -> None:
    body = client.get("/rates/KZT/change", params={"start": "2025-12-29", "end": "2026-01-01T06:00"}).json()
    assert body["start_at"] == "2025-12-30T12:00:00Z"  # S0: nothing was known at the start
    assert (body["start_rate"], body["end_rate"]) == (625, 800)
    assert body["change"] == 175  # the tenge weakened: more of it per dollar
    assert body["change_pct"] == 28


def test_a_window_starting_or_ending_in_a_gap_is_measured_while_a_value_is_in_force(client: TestClient) -> None:
    """04:00 falls in the gap (S3 lapsed at 03:40): nothing is in force, so the window starts when S4 comes, at 05:15,
    as /rates/at would answer; ending in the gap, it ends at 03:40, the last instant S3 held."""
    body = client.get("/rates/KZT/change", params={"start": "2026-01-01T04:00", "end": "2026-01-01T06:00"}).json()
    assert (body["start_at"], body["start_rate"]) == ("2026-01-01T05:15:00Z", 800)
    assert (body["end_at"], body["end_rate"], body["change"]) == ("2026-01-01T06:00:00Z", 800, 0)
    ended = client.get("/rates/KZT/change", params={"start": "2026-01-01T01:00", "end": "2026-01-01T05:00"}).json()
    assert (ended["start_at"], ended["start_rate"]) == ("2026-01-01T01:00:00Z", 500)
    assert (ended["end_at"], ended["end_rate"], ended["change_pct"]) == ("2026-01-01T03:40:00Z", 250, -50)
    nothing = client.get("/rates/KZT/change", params={"start": "2026-01-01T04:00", "end": "2026-01-01T05:00"})
    assert nothing.status_code == 404  # no value in force at any instant of the window


def test_no_data_in_the_range_is_a_404_that_says_where_the_data_is(client: TestClient) -> None:
    for start, end in (("2025-06-01", "2025-07-01"), ("2026-01-05", "2026-01-06")):
        response = client.get("/rates/KZT/change", params={"start": start, "end": end})
        assert response.status_code == 404
        assert response.json()["detail"] == (
            f"no KZT data from erapi between {start}T00:00:00Z and {end}T00:00:00Z; "
            "it has data from 2025-12-30T12:00:00Z to 2026-01-01T06:00:00Z"
        )
    none = client.get("/rates/KZT/change", params={"source": "ticker", "start": "2026-01-01"})
    assert none.status_code == 404 and none.json()["detail"].endswith("it has none stored")


def test_periods_end_now(engine: Engine, database_url: str) -> None:
    now = utcnow()
    rows = [
        span("KZT", "nbk", "500", True, now - timedelta(days=30), now - timedelta(days=29)),
        span("KGS", "ticker", "0.01050", False, now - timedelta(days=300), now - timedelta(days=299)),
        span("KGS", "ticker", "0.01100", False, now - timedelta(days=3), now - timedelta(days=2)),
        span("KGS", "ticker", "0.01122", False, now - timedelta(hours=1), now - timedelta(minutes=1)),
    ]
    with serve(engine, database_url, rows) as client:
        day = client.get("/rates/KGS/change", params={"period": "24h"}).json()
        default = client.get("/rates/KGS/change").json()
        week = client.get("/rates/KGS/change", params={"period": "7d"}).json()  # som per dollar: 1/0.011 to 1/0.01122
        year = client.get("/rates/KGS/change", params={"period": "1y"}).json()
        changes = client.get("/rates/changes", params={"period": "24h"}).json()
        ending = client.get("/rates/KGS/change", params={"period": "24h", "end": iso(now - timedelta(hours=2))})
    # som per dollar: 1/0.011 and 1/0.01122 at 15 digits; the percentage from the exact values
    # 0.011 lapsed two days ago: the last 24 hours begin when 0.01122 came, an hour ago, and it has not moved since
    assert (day["start_at"], day["start_rate"], day["end_rate"], day["change"]) == (
        iso(now - timedelta(hours=1)),
        89.126559714795,
        89.126559714795,
        0,
    )
    assert (week["start_at"], week["start_rate"], week["end_rate"], week["change"], week["change_pct"]) == (
        iso(now - timedelta(days=3)),
        90.9090909090909,
        89.126559714795,
        -1.7825311942959,
        -1.960784,
    )
    assert default["start_rate"] == day["start_rate"]
    assert (year["start_at"], year["start_rate"]) == (iso(now - timedelta(days=300)), 95.2380952380952)
    assert changes["period"] == "24h"
    assert [c["currency"] for c in changes["changes"]] == ["KGS"]  # KZT has no data in the last 24 hours
    assert (changes["changes"][0]["start_rate"], changes["changes"][0]["end_rate"]) == (
        89.126559714795,
        89.126559714795,
    )
    assert ending.status_code == 404  # nothing from 26 h to 2 h ago


def test_changes_of_every_currency_between_two_times(client: TestClient) -> None:
    response = client.get("/rates/changes", params={"start": "2026-01-01T00:30", "end": "2026-01-01T01:50"})
    assert response.status_code == 200
    body = response.json()
    assert body["period"] is None
    assert [(c["currency"], c["source"], c["start_rate"], c["end_rate"]) for c in body["changes"]] == [
        ("KGS", "ticker", 87.4125874125874, 86.9565217391304),
        ("KZT", "erapi", 500, 250),
        ("UZS", "cbu", 12500, 12500),
    ]
    subset = client.get("/rates/changes", params={"start": "2026-01-01", "currencies": "uzs"}).json()
    assert [c["currency"] for c in subset["changes"]] == ["UZS"]


def test_etag_and_304(client: TestClient) -> None:
    for path, params in (
        ("/rates/KZT/change", {"start": "2026-01-01", "end": "2026-01-02"}),
        ("/rates/changes", {"start": "2026-01-01", "end": "2026-01-02"}),
    ):
        first = client.get(path, params=params)
        assert first.headers["cache-control"].startswith("public, max-age=")
        again = client.get(path, params=params, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
