"""Answers over data one side lacks: a leg of a cross with no data at all, none in the range, ending before it or
beginning after it. No data is never a 5xx and never a download cut short: raw history has no points, buckets
are null, CSV has no rows for the pair, a single change is a 404 that says where the data is, and the answers
about several currencies leave out the ones with nothing to show."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.series import serve, span
from tests.support import at

# Around 1-2 April 2026 (the range asked below):
#   KGS  ticker  0.01145        30 March 00:00 -> 06:00        ends before the range
#   KZT  erapi   475.09 per USD  1 April 03:00 -> 2 April 09:30  (its values hold 30 minutes)
#   TJS  ticker  0.10567         3 April 00:00 -> 06:00          begins after the range
#   UZS  cbu     12142.10        1 April 03:10 -> 2 April 09:40
#   TMT  none at all
APRIL = [
    span("KGS", "ticker", "0.01145", False, at("2026-03-30T00:00"), at("2026-03-30T06:00")),
    span("KZT", "erapi", "475.09", True, at("2026-04-01T03:00"), at("2026-04-02T09:30")),
    span("TJS", "ticker", "0.10567", False, at("2026-04-03T00:00"), at("2026-04-03T06:00")),
    span("UZS", "cbu", "12142.10", True, at("2026-04-01T03:10"), at("2026-04-02T09:40")),
]
RANGE = {"start": "2026-04-01", "end": "2026-04-02"}
RAW_HEADER = "timestamp,until,currency,pair,rate,inverse,source,base_source"
USD_KZT = "2026-04-01T03:00:00Z,2026-04-02T09:30:00Z,USD,USD/KZT,475.09,0.00210486434149319,,erapi"
# 475.09 / 12142.10 and its inverse, at 15 significant digits; from 03:10, when both legs are known
UZS_KZT = "2026-04-01T03:10:00Z,2026-04-02T09:30:00Z,UZS,UZS/KZT,0.0391274985381441,25.5574733208445,cbu,erapi"


@pytest.fixture
def april(engine: Engine, database_url: str) -> Iterator[TestClient]:
    with serve(engine, database_url, APRIL) as client:
        yield client


def body(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return json.loads(response.content, parse_float=Decimal, parse_int=Decimal)


def test_raw_history_in_another_base_with_a_leg_without_data_in_the_range_has_no_points(april: TestClient) -> None:
    ended = body(april.get("/rates/KGS/history", params={**RANGE, "base": "KZT"}))
    assert ended == {"currency": "KGS", "source": "ticker", "base": "KZT", "base_source": "erapi", "interval": "raw",
                     "points": []}  # fmt: skip
    begins_later = body(april.get("/rates/KZT/history", params={**RANGE, "base": "TJS"}))
    assert (begins_later["base_source"], begins_later["points"]) == ("ticker", [])
    usd = body(april.get("/rates/USD/history", params={**RANGE, "base": "TJS"}))
    assert (usd["source"], usd["points"]) == (None, [])


def test_raw_history_as_csv_with_a_leg_without_data_in_the_range_is_the_header(april: TestClient) -> None:
    for currency, base in (("KGS", "KZT"), ("KZT", "TJS"), ("USD", "TJS")):
        response = april.get(f"/rates/{currency}/history", params={**RANGE, "base": base, "format": "csv"})
        assert response.status_code == 200, (currency, base)
        assert response.text == RAW_HEADER + "\r\n", (currency, base)


def test_several_series_in_a_base_without_data_in_the_range(april: TestClient) -> None:
    many = body(april.get("/rates/history", params={**RANGE, "base": "TJS", "currencies": "USD,KGS,KZT,UZS"}))
    assert [(s["currency"], s["base_source"], s["points"]) for s in many["series"]] == [
        ("USD", "ticker", []), ("KGS", "ticker", []), ("KZT", "ticker", []), ("UZS", "ticker", [])
    ]  # fmt: skip


def test_several_series_leave_out_a_currency_with_no_data_at_all(april: TestClient) -> None:
    """As /rates/changes and /rates/export.csv do: one currency never polled does not make the answer a 404."""
    many = body(april.get("/rates/history", params={**RANGE, "base": "TJS"}))
    assert [s["currency"] for s in many["series"]] == ["USD", "KGS", "KZT", "UZS"]  # TMT has no data at all
    assert body(april.get("/rates/history", params={**RANGE, "base": "TMT"}))["series"] == []
    asked = body(april.get("/rates/history", params={**RANGE, "currencies": "TMT,KZT", "interval": "1d"}))
    assert [s["currency"] for s in asked["series"]] == ["KZT"]


def test_an_export_in_a_base_one_leg_of_which_is_missing_is_complete(april: TestClient) -> None:
    response = april.get("/rates/export.csv", params={**RANGE, "base": "KZT"})
    assert response.status_code == 200
    # USD/KZT, then KGS/KZT (no KGS in the range: no rows), TJS (none in the range), UZS/KZT; TMT (no data) left out
    assert response.text.splitlines() == [RAW_HEADER, USD_KZT, UZS_KZT]
    assert response.content.endswith(b"\r\n")
    days = april.get("/rates/export.csv", params={**RANGE, "base": "KZT", "interval": "1d"})
    assert [line.split(",")[2] for line in days.text.splitlines()[1:]] == ["USD/KZT", "USD/KZT", "UZS/KZT", "UZS/KZT"]


def test_an_export_in_another_base_has_its_columns_even_with_no_pair_to_show(april: TestClient) -> None:
    """The columns follow the query, not the data: a file in a base with no data yet is still in another base."""
    nothing = april.get("/rates/export.csv", params={**RANGE, "base": "TMT"})
    assert (nothing.status_code, nothing.text) == (200, RAW_HEADER + "\r\n")
    in_usd = april.get("/rates/export.csv", params={**RANGE, "currencies": "TMT"})  # no pair either, in USD
    assert in_usd.text == "timestamp,until,currency,pair,rate,inverse,source\r\n"
    assert in_usd.headers["etag"] != nothing.headers["etag"]


def test_buckets_in_another_base_with_a_leg_without_data_are_null(april: TestClient) -> None:
    for interval, count in (("1h", 25), ("1d", 2), ("1w", 0), ("1mo", 1)):
        points = body(april.get("/rates/KGS/history", params={**RANGE, "base": "KZT", "interval": interval}))["points"]
        assert len(points) == count
        assert all(p["open"] is p["close"] is p["average"] is None for p in points), interval
        csv = april.get("/rates/KGS/history", params={**RANGE, "base": "KZT", "interval": interval, "format": "csv"})
        assert csv.text == "timestamp,currency,pair,rate,average,inverse,source,base_source\r\n"


def test_a_change_in_a_base_one_leg_of_which_is_missing_is_a_404_that_says_where_the_data_is(
    april: TestClient,
) -> None:
    response = april.get("/rates/KGS/change", params={**RANGE, "base": "KZT"})
    assert response.status_code == 404
    assert response.json()["detail"] == (
        "no KGS/KZT rate between 2026-04-01T00:00:00Z and 2026-04-02T00:00:00Z (KGS from ticker: it has data from "
        "2026-03-30T00:00:00Z to 2026-03-30T06:00:00Z; KZT from erapi: it has data from 2026-04-01T03:00:00Z to "
        "2026-04-02T09:30:00Z)"
    )
    changes = body(april.get("/rates/changes", params={**RANGE, "base": "KZT"}))["changes"]
    assert [(c["currency"], c["start_at"]) for c in changes] == [
        ("USD", "2026-04-01T03:00:00Z"), ("UZS", "2026-04-01T03:10:00Z")
    ]  # fmt: skip


def test_rates_at_an_instant_and_conversions_leave_out_or_refuse_a_missing_leg(april: TestClient) -> None:
    assert body(april.get("/rates/at/2026-04-01T12:00", params={"base": "TJS"}))["rates"] == []
    kzt = body(april.get("/rates/at/2026-04-01T12:00", params={"base": "KZT"}))
    assert [r["pair"] for r in kzt["rates"]] == ["USD/KZT", "UZS/KZT"]
    later = april.get("/convert", params={"from": "TJS", "to": "KZT", "amount": "1", "at": "2026-04-01T12:00"})
    assert later.status_code == 404
    assert later.json()["detail"] == (
        "no TJS rate from ticker at or before 2026-04-01T12:00:00Z; its first value is from 2026-04-03T00:00:00Z"
    )
    none = april.get("/convert", params={"from": "KZT", "to": "TMT", "amount": "1", "at": "2026-04-01T12:00"})
    assert (none.status_code, none.json()) == (404, {"detail": "no data for TMT yet"})
    # The last value known counts, however old (KGS was last seen two days before): marked stale
    old = body(april.get("/convert", params={"from": "KGS", "to": "KZT", "amount": "1", "at": "2026-04-01T12:00"}))
    assert (old["rate"], old["sources"]["KGS"]["stale"]) == (Decimal("5.4397805"), True)


# A leg last seen just before the range still holds into it: KGS last seen at 00:50 holds until 01:05 (the
# ticker's values hold 15 minutes), when KZT begins at 01:00. The cross was in force from 01:00 to 01:05.
HELD = [
    span("KGS", "ticker", "0.0100", False, at("2026-01-01T00:00"), at("2026-01-01T00:50")),
    span("KZT", "ticker", "0.0020", False, at("2026-01-01T01:00"), at("2026-01-01T02:00")),
]


def test_a_leg_ending_just_before_the_range_holds_into_it_in_json_and_csv_alike(
    engine: Engine, database_url: str
) -> None:
    with serve(engine, database_url, HELD) as client:
        for start in ("2026-01-01T00:40", "2026-01-01T00:55", "2026-01-01T01:00"):
            params = {"start": start, "end": "2026-01-01T02:00", "base": "KZT", "source": "ticker"}
            points = body(client.get("/rates/KGS/history", params=params))["points"]
            assert points == [
                {"since": "2026-01-01T01:00:00Z", "until": "2026-01-01T01:00:00Z", "rate": 5, "inverse": Decimal("0.2")}
            ], start
            csv = client.get("/rates/KGS/history", params={**params, "format": "csv"}).text.splitlines()
            assert csv[1:] == ["2026-01-01T01:00:00Z,2026-01-01T01:00:00Z,KGS,KGS/KZT,5,0.2,ticker,ticker"], start
        # Seen no later than 01:00, the piece is not listed for a range that begins after it (as a span is not)
        later = {"start": "2026-01-01T01:02", "end": "2026-01-01T02:00", "base": "KZT", "source": "ticker"}
        assert body(client.get("/rates/KGS/history", params=later))["points"] == []
        one_hour = {**later, "start": "2026-01-01T01:00", "end": "2026-01-01T01:00", "interval": "1h"}
        (hour,) = body(client.get("/rates/KGS/history", params=one_hour))["points"]
    assert (hour["open"], hour["close"], hour["average"]) == (5, 5, 5)
