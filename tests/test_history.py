"""`/rates/{currency}/history`: raw spans and OHLC buckets of the hand-built series (tests/series.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.core.clock import utcnow
from app.domain.calendar import INTERVALS, Calendar
from tests.series import insert_spans, serve, span
from tests.support import at, detail_of


@pytest.fixture
def client(engine: Engine, database_url: str) -> Iterator[TestClient]:
    with serve(engine, database_url) as client:
        yield client


def exact(response: Any) -> Any:
    """The body with every number as a Decimal, so that digits are compared, not doubles."""
    return json.loads(response.content, parse_float=Decimal, parse_int=Decimal)


def ohlc(points: list[dict[str, Any]]) -> list[tuple[str, ...] | None]:
    def one(p: dict[str, Any]) -> tuple[str, ...] | None:
        if p["open"] is None:
            assert p["high"] is None and p["low"] is None and p["close"] is None
            return None
        return (str(p["open"]), str(p["high"]), str(p["low"]), str(p["close"]))

    return [one(p) for p in points]


def test_hourly_buckets_carry_forward_and_lapse(client: TestClient) -> None:
    response = client.get(
        "/rates/KZT/history", params={"start": "2026-01-01", "end": "2026-01-01T07:00", "interval": "1h"}
    )
    assert response.status_code == 200
    body = exact(response)
    assert (body["currency"], body["source"], body["interval"]) == ("KZT", "erapi", "1h")
    assert [p["t"] for p in body["points"]] == [f"2026-01-01T{h:02d}:00:00Z" for h in range(8)]
    assert ohlc(body["points"]) == [
        ("500", "500", "500", "500"),  # S1 begins exactly at 00:00: S0 is not carried in
        ("500", "500", "250", "250"),  # S1 carried in, then S2 and S3
        ("250", "250", "250", "250"),  # S3 carried through
        ("250", "250", "250", "250"),  # S3 in force at 03:00, lapses at 03:40: close is its value
        None,  # nothing in force after the gap
        ("800", "800", "800", "800"),  # S4 begins at 05:15: open is the first value within
        ("800", "800", "800", "800"),  # S4 carried in (in force until 06:30)
        None,
    ]


def test_a_range_that_starts_mid_series_carries_the_earlier_span_in(client: TestClient) -> None:
    body = client.get(
        "/rates/KZT/history", params={"start": "2026-01-01T01:00", "end": "2026-01-01T01:59", "interval": "1h"}
    ).json()
    # 500 tenge per dollar for 30 minutes, 400 for 15, 250 for 15: a mean of 412.5 weighted by time
    assert body["points"] == [
        {"t": "2026-01-01T01:00:00Z", "open": 500, "high": 500, "low": 250, "close": 250, "average": 412.5}
    ]


def test_daily_weekly_and_monthly_buckets(client: TestClient) -> None:
    def get(interval: str, start: str, end: str) -> list[tuple[str, ...] | None]:
        response = client.get("/rates/KZT/history", params={"start": start, "end": end, "interval": interval})
        assert response.status_code == 200
        return ohlc(exact(response)["points"])

    assert get("1d", "2025-12-30", "2026-01-02") == [
        ("625", "625", "625", "625"),  # S0 begins at 12:00
        ("625", "625", "625", "625"),  # carried all day
        ("500", "800", "250", "800"),  # S1..S4, the gap does not matter for the extremes
        None,  # S4 lapsed at 06:30 the day before
    ]
    # 2025-12-29 is a Monday.
    assert get("1w", "2025-12-29", "2026-01-05") == [("625", "800", "250", "800"), None]
    assert get("1mo", "2025-12-01", "2026-01-31") == [
        ("625", "625", "625", "625"),
        ("500", "800", "250", "800"),
    ]


def test_bucket_starts_lie_in_the_range(client: TestClient) -> None:
    body = client.get(
        "/rates/KZT/history", params={"start": "2025-12-30T06:00", "end": "2026-01-01T00:00", "interval": "1d"}
    ).json()
    assert [p["t"] for p in body["points"]] == ["2025-12-31T00:00:00Z", "2026-01-01T00:00:00Z"]
    none = client.get(
        "/rates/KZT/history", params={"start": "2026-01-01T00:10", "end": "2026-01-01T00:50", "interval": "1h"}
    )
    assert none.status_code == 200 and none.json()["points"] == []


def test_extremes_are_by_value_and_written_plainly(client: TestClient) -> None:
    body = client.get(
        "/rates/KGS/history", params={"start": "2026-01-01", "end": "2026-01-01", "interval": "1d"}
    ).content
    # som per dollar, 1/0.01144 then 1/0.01150 at 15 digits: the highest is the first
    assert b'"open":87.4125874125874,"high":87.4125874125874,"low":86.9565217391304,"close":86.9565217391304' in body


def test_raw_gives_the_spans_that_overlap_the_range(client: TestClient) -> None:
    response = client.get("/rates/KZT/history", params={"start": "2026-01-01T01:35", "end": "2026-01-01T03:00"})
    assert response.status_code == 200
    assert exact(response) == {
        "currency": "KZT",
        "source": "erapi",
        "interval": "raw",
        "points": [
            {
                "since": "2026-01-01T01:30:00Z",
                "until": "2026-01-01T01:40:00Z",
                "rate": Decimal("400"),
                "inverse": Decimal("0.0025"),
                "observations": 4,
                "effective_date": "2026-01-01",
            },
            {
                "since": "2026-01-01T01:45:00Z",
                "until": "2026-01-01T03:10:00Z",
                "rate": Decimal("250"),
                "inverse": Decimal("0.004"),
                "observations": 5,
                "effective_date": "2026-01-01",
            },
        ],
    }
    whole = client.get("/rates/KZT/history", params={"start": "2025-01-01", "end": "2026-02-01"}).json()
    assert [p["rate"] for p in whole["points"]] == [625, 500, 400, 250, 800]


def test_an_empty_range_has_no_points(client: TestClient) -> None:
    for interval in ("raw", "1h", "1d"):
        response = client.get(
            "/rates/KZT/history", params={"start": "2025-06-01", "end": "2025-06-02", "interval": interval}
        )
        assert response.status_code == 200
        points = response.json()["points"]
        assert points == [] if interval == "raw" else all(p["close"] is None for p in points)


def test_the_source_can_be_chosen_and_defaults_to_the_one_with_data(client: TestClient) -> None:
    assert client.get("/rates/kzt/history?start=2026-01-01&end=2026-01-02").json()["source"] == "erapi"
    other = client.get("/rates/KZT/history", params={"source": "ticker", "start": "2026-01-01", "end": "2026-01-02"})
    assert other.status_code == 200 and other.json()["source"] == "ticker" and other.json()["points"] == []


def test_a_currency_with_no_data_yet_is_a_404(client: TestClient) -> None:
    response = client.get("/rates/TJS/history")
    assert response.status_code == 404
    assert detail_of(response, "no-data") == "no data for TJS yet"


def test_defaults_are_the_last_30_days_raw(engine: Engine, database_url: str) -> None:
    now = utcnow()
    rows = [
        span("KGS", "ticker", "0.01100", False, now - timedelta(days=40), now - timedelta(days=35)),
        span("KGS", "ticker", "0.01120", False, now - timedelta(days=2), now - timedelta(minutes=1)),
    ]
    with serve(engine, database_url, rows) as client:
        body = client.get("/rates/KGS/history").json()
    assert body["interval"] == "raw"
    assert [p["inverse"] for p in body["points"]] == [0.0112]


def test_wide_values_are_compared_exactly(engine: Engine, database_url: str) -> None:
    """17 significant digits: two values one double apart (SQLite compares doubles, then checks exactly). Published
    per USD, so that the served rates are the published digits."""
    rows = [
        span("KGS", "ticker", "1.2345678901234568", True, at("2026-01-01T00:00"), at("2026-01-01T00:01")),
        span("KGS", "ticker", "1.2345678901234567", True, at("2026-01-01T00:02"), at("2026-01-01T00:03")),
        span("KGS", "ticker", "1.2345678901234569", True, at("2026-01-01T00:04"), at("2026-01-01T00:05")),
    ]
    with serve(engine, database_url, rows) as client:
        response = client.get(
            "/rates/KGS/history", params={"start": "2026-01-01", "end": "2026-01-01", "interval": "1d"}
        )
    assert ohlc(exact(response)["points"]) == [
        ("1.2345678901234568", "1.2345678901234569", "1.2345678901234567", "1.2345678901234569")
    ]


def test_bucket_arithmetic() -> None:
    assert Calendar("1w").floor(at("2026-01-01T13:45")) == at("2025-12-29T00:00")
    assert Calendar("1mo").floor(at("2026-02-17T13:45")) == at("2026-02-01T00:00")
    assert list(Calendar("1mo").starts(at("2025-11-15"), at("2026-02-01"))) == [
        at("2025-12-01"),
        at("2026-01-01"),
        at("2026-02-01"),
    ]
    assert Calendar("1mo").count(at("2025-11-15"), at("2026-02-01")) == 3
    assert Calendar("1h").count(at("2025-01-01"), at("2026-01-01")) == 365 * 24 + 1
    assert Calendar("1h").count(at("2026-01-01T00:10"), at("2026-01-01T00:50")) == 0
    for zone in (UTC, ZoneInfo("Asia/Almaty"), ZoneInfo("Asia/Kolkata"), ZoneInfo("America/New_York")):
        for interval in INTERVALS:
            start, end = at("2023-03-03T05:06"), at("2026-01-07T00:00")
            calendar = Calendar(interval, zone)
            assert calendar.count(start, end) == len(list(calendar.starts(start, end))), (zone, interval)


def test_history_as_csv(client: TestClient) -> None:
    response = client.get(
        "/rates/KZT/history", params={"start": "2026-01-01T01:35", "end": "2026-01-01T03:00", "format": "csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="fx-rates_20260101T013500Z_20260101T030000Z.csv"'
    )
    assert response.text.splitlines() == [
        "timestamp,until,currency,pair,rate,inverse,source",
        "2026-01-01T01:30:00Z,2026-01-01T01:40:00Z,KZT,USD/KZT,400,0.0025,erapi",
        "2026-01-01T01:45:00Z,2026-01-01T03:10:00Z,KZT,USD/KZT,250,0.004,erapi",
    ]
    daily = client.get(
        "/rates/KZT/history", params={"start": "2025-12-30", "end": "2026-01-02", "format": "csv", "interval": "1d"}
    )
    assert daily.headers["content-disposition"] == 'attachment; filename="fx-rates_2025-12-30_2026-01-02.csv"'
    assert daily.text.splitlines() == [
        "timestamp,currency,pair,rate,average,inverse,source",
        "2025-12-30T00:00:00Z,KZT,USD/KZT,625,625,0.0016,erapi",
        "2025-12-31T00:00:00Z,KZT,USD/KZT,625,625,0.0016,erapi",
        # 500 for 90 minutes, 400 for 15, 250 for 115, nothing for 95, 800 for 75: 139750 / 295
        "2026-01-01T00:00:00Z,KZT,USD/KZT,800,473.728813559322,0.00125,erapi",
    ]  # 2026-01-02 had nothing in force: no row


def test_etag_and_304(client: TestClient) -> None:
    for params in (
        {"start": "2026-01-01", "end": "2026-01-02"},
        {"start": "2026-01-01", "interval": "1h", "end": "2026-01-02"},
    ):
        first = client.get("/rates/KZT/history", params=params)
        etag = first.headers["etag"]
        assert first.headers["cache-control"].startswith("public, max-age=")
        again = client.get("/rates/KZT/history", params=params, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        assert client.get("/rates/KZT/history", params=params, headers={"If-None-Match": '"x"'}).status_code == 200
    csv_params = {"start": "2026-01-01", "end": "2026-01-02", "format": "csv"}
    csv_etag = client.get("/rates/KZT/history", params=csv_params).headers["etag"]
    assert csv_etag.startswith('W/"')
    assert client.get("/rates/KZT/history", params=csv_params, headers={"If-None-Match": csv_etag}).status_code == 304


def test_new_data_changes_the_answer_and_the_etag(engine: Engine, database_url: str) -> None:
    with serve(engine, database_url) as client:
        params = {"start": "2026-01-01", "end": "2026-01-01T23:00", "interval": "1d"}
        before = client.get("/rates/KZT/history", params=params)
        insert_spans(engine, [span("KZT", "erapi", "100", True, at("2026-01-01T08:00"), at("2026-01-01T09:00"))])
        after = client.get("/rates/KZT/history", params=params)
        csv = {"start": "2026-01-01", "end": "2026-01-02", "format": "csv"}
        assert after.json()["points"][0]["high"] == 800  # S4; the new 100 is the low
        assert after.json()["points"][0]["low"] == 100
        assert after.headers["etag"] != before.headers["etag"]
        old = client.get("/rates/KZT/history", params=csv).headers["etag"]
        insert_spans(engine, [])
        assert client.get("/rates/KZT/history", params=csv).headers["etag"] != old


def test_the_database_groups_spans_on_the_same_bucket_edges_as_python(engine: Engine, database_url: str) -> None:
    """A span one minute before each edge and one at it: they must land in different buckets."""
    edges = ["2026-01-05T00:00", "2026-02-01T00:00", "2026-02-01T13:00"]  # a Monday, the 1st, an hour
    rows = []
    for index, edge in enumerate(edges):
        rows.append(
            span(
                "KGS",
                "ticker",
                f"0.0{1100 + 2 * index}",
                False,
                at(edge) - timedelta(minutes=1),
                at(edge) - timedelta(seconds=1),
            )
        )
        rows.append(span("KGS", "ticker", f"0.0{1101 + 2 * index}", False, at(edge), at(edge) + timedelta(seconds=30)))
    with serve(engine, database_url, rows) as client:

        def closes(interval: str, start: str, end: str) -> list[float | None]:
            params = {"start": start, "end": end, "interval": interval}
            return [p["close"] for p in client.get("/rates/KGS/history", params=params).json()["points"]]

        # som per dollar: 1/0.011, 1/0.01101, ... at 15 digits
        assert closes("1w", "2025-12-29", "2026-01-05") == [90.9090909090909, 90.8265213442325]
        assert closes("1mo", "2026-01-01", "2026-02-01") == [90.7441016333938, 90.4977375565611]
        assert closes("1d", "2026-01-31", "2026-02-01") == [90.7441016333938, 90.4977375565611]
        assert closes("1h", "2026-02-01T12:00", "2026-02-01T13:00") == [90.5797101449275, 90.4977375565611]


def test_an_official_daily_rate_holds_over_the_weekend(engine: Engine, database_url: str) -> None:
    """Backfilled bank days are seen at 00:00: Friday's rate is in force all Friday, Saturday and Sunday."""
    days = [
        span("KZT", "nbk", "478.77", True, at("2026-03-02T00:00"), at("2026-03-06T00:00")),  # Mon..Fri
        span("KZT", "nbk", "480", True, at("2026-03-09T00:00"), at("2026-03-13T00:00")),  # Mon..Fri
    ]
    with serve(engine, database_url, days) as client:
        daily = client.get(
            "/rates/KZT/history", params={"start": "2026-03-06", "end": "2026-03-09", "interval": "1d", "source": "nbk"}
        ).json()["points"]
        friday_noon = client.get(
            "/rates/KZT/history",
            params={"start": "2026-03-06T12:00", "end": "2026-03-06T12:00", "interval": "1h", "source": "nbk"},
        ).json()["points"]
    tenge, later = 478.77, 480  # tenge per dollar, as NBK published them
    assert [(p["t"][:10], p["close"]) for p in daily] == [
        ("2026-03-06", tenge),
        ("2026-03-07", tenge),
        ("2026-03-08", tenge),
        ("2026-03-09", later),
    ]
    assert friday_noon[0]["open"] == tenge
