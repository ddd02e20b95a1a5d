"""The views users know from other rates APIs, pinned on hand-built spans with known answers: any base currency,
all rates at a past instant, several series at once, local-time days, time-weighted averages."""

from __future__ import annotations

import decimal
import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.api.app import create_app
from app.read import series as read_series
from tests.series import insert_spans, query_settings, serve, span
from tests.support import at, detail_of


def exact(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return json.loads(response.content, parse_float=Decimal, parse_int=Decimal)


def _ticker(currency: str, value: str, first: str, last: str) -> dict[str, Any]:
    return span(currency, "ticker", value, False, at(first), at(last))


# Two ticker legs (USD per unit) that change at different times; the ticker's values hold 15 minutes.
#   KGS 0.0100 from 00:00, 0.0125 from 02:00     KZT 0.0020 from 00:00, 0.0025 from 03:00
#   KZT in KGS (tenge per som, pair KGS/KZT): 5 until 02:00, 6.25 until 03:00, then 5 again (until 06:10, when
#   both lapse)
CROSS = [
    _ticker("KGS", "0.0100", "2026-01-01T00:00", "2026-01-01T01:55"),
    _ticker("KGS", "0.0125", "2026-01-01T02:00", "2026-01-01T05:55"),
    _ticker("KZT", "0.0020", "2026-01-01T00:00", "2026-01-01T02:55"),
    _ticker("KZT", "0.0025", "2026-01-01T03:00", "2026-01-01T05:55"),
]
DAY = {"start": "2026-01-01", "end": "2026-01-01", "source": "ticker"}


@pytest.fixture
def cross(engine: Engine, database_url: str) -> Iterator[TestClient]:
    with serve(engine, database_url, CROSS) as client:
        yield client


def test_a_cross_changes_at_each_legs_change(cross: TestClient) -> None:
    raw = exact(cross.get("/rates/KZT/history", params={**DAY, "end": "2026-01-02", "base": "KGS"}))
    assert (raw["currency"], raw["source"], raw["base"], raw["base_source"]) == ("KZT", "ticker", "KGS", "ticker")
    assert [(p["since"], p["rate"]) for p in raw["points"]] == [
        ("2026-01-01T00:00:00Z", 5),
        ("2026-01-01T02:00:00Z", Decimal("6.25")),
        ("2026-01-01T03:00:00Z", 5),
    ]
    hours = exact(cross.get("/rates/KZT/history", params={**DAY, "end": "2026-01-01T03:00", "interval": "1h",
                                                          "base": "KGS"}))["points"]  # fmt: skip
    assert [(p["open"], p["high"], p["low"], p["close"]) for p in hours] == [
        (5, 5, 5, 5), (5, 5, 5, 5), (Decimal("6.25"),) * 4, (5, 5, 5, 5)
    ]  # fmt: skip


def test_the_ohlc_of_a_cross_is_of_the_cross_not_of_the_legs(cross: TestClient) -> None:
    (day,) = exact(cross.get("/rates/KZT/history", params={**DAY, "interval": "1d", "base": "KGS"}))["points"]
    # Dividing the legs' OHLC would give a high of 0.0125 / 0.0025 = 5; the cross was 6.25 from 02:00 to 03:00.
    assert (day["open"], day["high"], day["low"], day["close"]) == (5, Decimal("6.25"), 5, 5)
    # 5 for 120 minutes, 6.25 for 60, 5 for 190 (to 06:10): 1925 / 370
    assert day["average"] == Decimal("5.20270270270270")
    usd = exact(cross.get("/rates/USD/history", params={**DAY, "interval": "1d", "base": "KZT"}))
    (point,) = usd["points"]
    assert (usd["currency"], usd["source"], usd["base"]) == ("USD", None, "KZT")
    # Dollars per tenge: 0.0020, then 0.0025 from 03:00
    assert (point["open"], point["high"], point["low"], point["close"]) == (
        Decimal("0.002"), Decimal("0.0025"), Decimal("0.002"), Decimal("0.0025"))  # fmt: skip


def test_the_latest_rates_in_another_base_say_where_each_leg_came_from(cross: TestClient) -> None:
    body = exact(cross.get("/rates/latest", params={"base": "KGS", "source": "ticker"}))
    assert body["base"] == "KGS"
    rates = {r["currency"]: r for r in body["rates"]}
    assert list(rates) == ["USD", "KZT"]  # USD first, the base itself left out, currencies without data too
    kzt = rates["KZT"]
    # Tenge per som, in market notation: the base first
    assert (kzt["pair"], kzt["rate"], kzt["inverse"]) == ("KGS/KZT", 5, Decimal("0.2"))
    assert kzt["legs"]["KZT"]["source"] == kzt["legs"]["KGS"]["source"] == "ticker"
    # Each leg's rate is its own in base USD: tenge (som) per dollar, 1 / 0.0025 (1 / 0.0125)
    assert (kzt["legs"]["KZT"]["rate"], kzt["legs"]["KGS"]["rate"]) == (400, 80)
    assert kzt["since"] == "2026-01-01T03:00:00Z"  # when the cross last changed: the later leg
    assert (kzt["previous_rate"], kzt["change_pct"]) == (Decimal("6.25"), -20)
    usd = rates["USD"]
    assert (usd["pair"], usd["rate"], usd["inverse"], usd["source"]) == ("KGS/USD", Decimal("0.0125"), 80, None)
    assert list(usd["legs"]) == ["KGS"]


def test_base_usd_is_the_answer_without_a_base(cross: TestClient) -> None:
    for path, params in [
        ("/rates/latest", {}),
        ("/rates/KGS/history", {**DAY, "interval": "1h"}),
        ("/rates/KGS/history", DAY),
        ("/rates/KGS/change", {"start": "2026-01-01T00:30", "end": "2026-01-01T04:00"}),
        ("/rates/changes", {"start": "2026-01-01T00:30", "end": "2026-01-01T04:00"}),
        ("/rates/export.csv", {**DAY, "interval": "1h"}),
    ]:
        plain = cross.get(path, params=params)
        assert plain.status_code == 200, (path, plain.text)
        assert cross.get(path, params={**params, "base": "USD"}).content == plain.content, path
        assert cross.get(path, params={**params, "base": "usd"}).content == plain.content, path


def test_change_in_another_base(cross: TestClient) -> None:
    moved = exact(cross.get("/rates/KZT/change", params={"start": "2026-01-01T00:30", "end": "2026-01-01T02:30",
                                                         "base": "KGS", "source": "ticker"}))  # fmt: skip
    assert (moved["start_rate"], moved["end_rate"], moved["change_pct"]) == (5, Decimal("6.25"), 25)
    assert (moved["base"], moved["base_source"]) == ("KGS", "ticker")


def test_several_series_in_one_call_are_each_the_single_answer(cross: TestClient) -> None:
    for params in ({**DAY, "interval": "1h"}, {**DAY, "end": "2026-01-02"}, {**DAY, "interval": "1d", "base": "KGS"}):
        many = exact(cross.get("/rates/history", params=params))
        assert many["interval"] == params.get("interval", "raw") and many["base"] == params.get("base", "USD")
        names = [s["currency"] for s in many["series"]]
        # every currency (source=ticker: those without ticker data answer no points), the base left out
        assert names == (
            ["KGS", "KZT", "TJS", "UZS", "TMT", "RUB", "EUR", "CNY"]
            if "base" not in params
            else ["USD", "KZT", "TJS", "UZS", "TMT", "RUB", "EUR", "CNY"]
        )
        for series in many["series"]:
            one = exact(cross.get(f"/rates/{series['currency']}/history", params=params))
            assert series == {k: v for k, v in one.items() if k not in ("interval", "base", "tz")}


def test_the_bucket_limit_applies_to_the_whole_answer(cross: TestClient) -> None:
    # 5,001 hours are within the limit for one series; for two they are not.
    params = {"start": "2025-06-11", "end": "2026-01-06T08:00", "interval": "1h", "source": "ticker"}
    assert cross.get("/rates/KGS/history", params=params).status_code == 200
    response = cross.get("/rates/history", params={**params, "currencies": "KGS,KZT"})
    assert response.status_code == 422
    assert "(2 series), more than the limit of 10,000" in response.json()["detail"]


# --- rates at an instant ---------------------------------------------------------------------------------------


@pytest.fixture
def kzt(engine: Engine, database_url: str) -> Iterator[TestClient]:
    with serve(engine, database_url) as client:  # tests/series.py: KZT from erapi with a gap, KGS, UZS
        yield client


@pytest.mark.parametrize(
    ("when", "rate", "stale"),
    [
        ("2025-12-01", None, None),  # before any data: absent
        ("2026-01-01T01:42", Decimal("400"), False),  # between S2 (last seen 01:40) and S3: S2 still holds
        ("2026-01-01T04:00", None, None),  # inside the gap (S3 lapsed at 03:40): absent
        ("2026-01-01T01:45", Decimal("250"), False),  # at S3's exact start: S3
        ("2026-01-01T03:20", Decimal("250"), False),  # S3 last seen 03:10, holds until 03:40: in force, fresh
    ],
)
def test_rates_at_an_instant(kzt: TestClient, when: str, rate: Decimal | None, stale: bool | None) -> None:
    body = exact(kzt.get(f"/rates/at/{when}", params={"currencies": "KZT"}))
    assert body["at"] == at(when).isoformat().replace("+00:00", "Z") and body["base"] == "USD"
    found = {r["currency"]: r for r in body["rates"]}
    if rate is None:
        assert "KZT" not in found
        return
    assert (found["KZT"]["rate"], found["KZT"]["stale"], found["KZT"]["source"]) == (rate, stale, "erapi")


def test_rates_at_a_past_instant_are_cached_long_and_follow_the_data(kzt: TestClient) -> None:
    first = kzt.get("/rates/at/2026-01-01T01:42")
    assert first.headers["cache-control"] == "public, max-age=86400"
    assert kzt.get("/rates/at/2026-01-01T01:42", headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    body = exact(kzt.get("/rates/at/2026-01-01T01:42", params={"base": "KZT"}))
    usd = body["rates"][0]
    assert (usd["currency"], usd["rate"], usd["inverse"]) == ("USD", Decimal("0.0025"), 400)  # dollars per tenge


# --- local days ------------------------------------------------------------------------------------------------


def test_days_in_almaty_across_its_move_to_utc_plus_5(engine: Engine, database_url: str) -> None:
    """Almaty was UTC+6 until 2024-03-01 00:00 local, then UTC+5: 29 February lasted 25 hours there."""
    rows = [
        _ticker("KZT", "0.0020", "2024-02-28T12:00", "2024-02-29T18:25"),
        _ticker("KZT", "0.0021", "2024-02-29T18:30", "2024-03-02T12:00"),  # 23:30 on the 29th in Almaty (UTC+5)
    ]
    with serve(engine, database_url, rows) as client:
        body = exact(client.get("/rates/KZT/history", params={"start": "2024-02-28T18:00", "end": "2024-03-01T18:59",
                                                              "interval": "1d", "tz": "Asia/Almaty"}))  # fmt: skip
    assert body["tz"] == "Asia/Almaty"
    assert [(p["t"], p["open"], p["close"]) for p in body["points"]] == [
        ("2024-02-29T00:00:00+06:00", 500, Decimal("476.190476190476")),
        ("2024-03-01T00:00:00+05:00", Decimal("476.190476190476"), Decimal("476.190476190476")),
    ]
    # Tenge per dollar: 1 / 0.0020 for 24 h 30 min of the 25-hour day, then 1 / 0.0021 for 30 min
    assert body["points"][0]["average"] == Decimal("499.523809523810")


def test_days_in_kolkata_begin_at_half_past_the_utc_hour(engine: Engine, database_url: str) -> None:
    rows = [
        _ticker("KGS", "0.0110", "2026-02-22T12:00", "2026-02-22T18:10"),
        _ticker("KGS", "0.0120", "2026-02-22T18:15", "2026-02-22T18:40"),  # 23:45 local: the 22nd
        _ticker("KGS", "0.0130", "2026-02-22T18:45", "2026-02-23T12:00"),  # 00:15 local: the 23rd
    ]
    with serve(engine, database_url, rows) as client:
        body = exact(client.get("/rates/KGS/history", params={"start": "2026-02-21T18:30", "end": "2026-02-23T00:00",
                                                              "interval": "1d", "tz": "Asia/Kolkata"}))  # fmt: skip
        params = {"start": "2026-02-21T18:30", "end": "2026-02-23T00:00", "interval": "1d", "tz": "Asia/Kolkata"}
        csv = client.get("/rates/export.csv", params={**params, "currencies": "KGS"})
    first, second = body["points"]
    assert first["t"] == "2026-02-22T00:00:00+05:30" and second["t"] == "2026-02-23T00:00:00+05:30"
    # Som per dollar: 1 / 0.0110, 1 / 0.0120 and 1 / 0.0130 at 15 digits
    som = Decimal("90.9090909090909"), Decimal("83.3333333333333"), Decimal("76.9230769230769")
    assert (first["open"], first["high"], first["close"]) == (som[0], som[0], som[1])
    assert (second["open"], second["low"]) == (som[1], som[2])
    # The 22nd local: nothing until 12:00 UTC, 1 / 0.0110 from 12:00 to 18:15, 1 / 0.0120 from 18:15 to 18:30:
    # 390 minutes
    assert first["average"] == Decimal("90.6177156177156")
    assert csv.text.splitlines()[1].startswith(
        "2026-02-22T00:00:00+05:30,KGS,USD/KGS,83.3333333333333,90.6177156177156,"
    )


def test_an_average_leaves_out_the_time_nothing_was_in_force(kzt: TestClient) -> None:
    (day,) = exact(kzt.get("/rates/KZT/history", params={"start": "2026-01-01", "end": "2026-01-01",
                                                         "interval": "1d"}))["points"]  # fmt: skip
    # 500 for 90 minutes, 400 for 15, 250 for 115, nothing from 03:40 to 05:15, 800 for 75: 139750 / 295
    assert day["average"] == Decimal("473.728813559322")
    empty = exact(kzt.get("/rates/KZT/history", params={"start": "2026-01-03", "end": "2026-01-03",
                                                        "interval": "1d"}))["points"]  # fmt: skip
    assert empty == [{"t": "2026-01-03T00:00:00Z", "open": None, "high": None, "low": None, "close": None,
                      "average": None}]  # fmt: skip


# --- bad parameters --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "status", "detail"),
    [
        ("/rates/latest", {"base": "GBP"}, 422, "parameter 'base': unknown currency 'GBP'; valid codes: USD, KGS, KZT"),
        ("/rates/KZT/history", {"base": "KZT"}, 422, "the currency KZT is also the base"),
        ("/rates/history", {"currencies": "KZT,KGS", "base": "KGS"}, 422, "KGS is also the base"),
        ("/rates/KZT/history", {"interval": "1d", "tz": "Mars/Olympus"}, 422, "unknown time zone 'Mars/Olympus'"),
        ("/rates/KZT/history", {"tz": "Asia/Almaty"}, 422, "a time zone applies to bucketed intervals"),
        ("/rates/export.csv", {"interval": "1d", "tz": "../etc/passwd"}, 422, "unknown time zone"),
        ("/rates/at/2999-01-01", {}, 422, "parameter 'when': 2999-01-01T00:00:00Z is in the future"),
        ("/rates/at/noon", {}, 422, "parameter 'when': 'noon' is not an ISO 8601 date or time"),
        ("/rates/USD/history", {}, 422, "the currency USD is also the base"),
        ("/rates/GBP/history", {"base": "KZT"}, 422, "unknown currency 'GBP'; valid codes: USD, KGS, TJS"),
    ],
)
def test_bad_view_parameters_are_4xx_with_a_detail(
    kzt: TestClient, path: str, params: dict[str, str], status: int, detail: str
) -> None:
    response = kzt.get(path, params=params)
    assert response.status_code == status, response.text
    assert detail in detail_of(response)


def test_a_settings_bound_client_sees_every_base(engine: Engine, database_url: str) -> None:
    insert_spans(engine, CROSS)
    with TestClient(create_app(query_settings(database_url, currencies=["KGS", "KZT", "UZS"]))) as client:
        response = client.get("/rates/latest", params={"base": "TJS"})
    assert response.status_code == 422
    assert response.json()["detail"] == "parameter 'base': unknown currency 'TJS'; valid codes: USD, KGS, KZT, UZS"


def test_a_cross_too_busy_to_work_out_in_one_answer_is_a_422_that_says_how_much_to_ask(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both legs change every minute for two days, and come from two sources (no pair rollup holds their cross):
    every hour must be crossed span by span (5,760 spans)."""
    start = at("2026-01-01T00:00")
    minutes = [start + timedelta(minutes=m) for m in range(2 * 24 * 60)]
    rows = [
        span(currency, source, f"{base}{m % 97:02d}", False, t, t)
        for currency, source, base in (("KGS", "ticker", "0.0114"), ("KZT", "erapi", "0.0020"))
        for m, t in enumerate(minutes)
    ]
    monkeypatch.setattr(read_series, "MAX_CROSSED_SPANS", 3_000)  # the limit, scaled down with the data
    with serve(engine, database_url, rows) as client:
        params = {"start": "2026-01-01", "end": "2026-01-02T23:59", "interval": "1d"}
        refused = client.get("/rates/KGS/history", params={**params, "base": "KZT"})
        assert refused.status_code == 422
        assert refused.json()["detail"] == (
            "this range needs 5,760 changes of the two series crossed one by one, more than one answer crosses "
            "(3,000); ask for 1 day or fewer at a time"
        )
        export = client.get("/rates/export.csv", params={**params, "currencies": "KGS", "base": "KZT"})
        assert export.status_code == 422 and export.json()["detail"] == refused.json()["detail"]
        one_day = exact(client.get("/rates/KGS/history", params={**params, "end": "2026-01-01T12:00", "base": "KZT"}))
        assert len(one_day["points"]) == 1 and one_day["points"][0]["open"] is not None
        assert exact(client.get("/rates/KGS/history", params=params))["points"][0]["open"] is not None  # USD: rows


def test_a_busy_cross_of_one_source_is_read_from_the_pair_rollups(engine: Engine, database_url: str) -> None:
    """Both legs of one source change every minute for two days: the cross comes from rows, exactly as crossing
    every span would give it, whatever the limit on spans crossed one by one."""
    start = at("2026-01-01T00:00")
    minutes = [start + timedelta(minutes=m) for m in range(2 * 24 * 60)]
    rows = [
        span(currency, "ticker", f"{base}{m % 97:02d}", False, t, t)
        for currency, base in (("KGS", "0.0114"), ("KZT", "0.0020"))
        for m, t in enumerate(minutes)
    ]
    with serve(engine, database_url, rows) as client:
        params = {"start": "2026-01-01", "end": "2026-01-02T23:59", "interval": "1d", "source": "ticker", "base": "KZT"}
        params["base"] = "KGS"  # KZT in som: its rate is KGS's dollars per som over KZT's dollars per tenge
        days = exact(client.get("/rates/KZT/history", params=params))["points"]
        hours = exact(client.get("/rates/KZT/history", params={**params, "interval": "1h"}))["points"]
    fifteen = decimal.Context(prec=15, rounding=decimal.ROUND_HALF_EVEN)

    def cross(minute: int) -> Decimal:  # KGS over KZT at that minute, at 15 significant digits
        return fifteen.divide(Decimal(rows[minute]["value"]), Decimal(rows[2880 + minute]["value"]))

    assert [p["open"] for p in days] == [cross(0), cross(1440)] and cross(0) == Decimal("5.7")
    assert [p["close"] for p in days] == [cross(1439), cross(2879)]
    for n, day in enumerate(days):
        crosses = [cross(m) for m in range(n * 1440, (n + 1) * 1440)]
        assert (day["high"], day["low"]) == (max(crosses), min(crosses))
        # Every minute weighs the same: the day's average is the mean of its hours'.
        mean = sum(p["average"] for p in hours[n * 24 : (n + 1) * 24]) / 24
        assert abs(day["average"] - mean) < Decimal("1e-12")


def test_an_export_whose_later_pair_is_too_busy_to_cross_is_cut_short_with_one_line(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The first pair is read before the 200 goes out (a 422 is still possible then); a later one is not: the
    download is cut off, so the file cannot pass for whole, and the log says why in one line."""
    start = at("2026-01-01T00:00")
    minutes = [start + timedelta(minutes=m) for m in range(24 * 60)]
    rows = [_ticker("KGS", "0.0114", "2026-01-01T00:00", "2026-01-01T23:59")]  # steady: crossed by rows
    rows += [
        span(currency, source, f"{base}{m % 97:02d}", False, t, t)
        for currency, source, base in (("KZT", "ticker", "0.0020"), ("UZS", "erapi", "0.00008"))
        for m, t in enumerate(minutes)
    ]
    monkeypatch.setattr(read_series, "MAX_CROSSED_SPANS", 1_000)
    # Each currency from the only source that has it: UZS from another than the others (no pair rollup).
    params = {"start": "2026-01-01", "end": "2026-01-01T23:59", "interval": "1h", "base": "UZS"}
    with serve(engine, database_url, rows) as client, caplog.at_level("WARNING"):
        response = client.get("/rates/export.csv", params={**params, "currencies": "KGS,KZT"})
    assert response.status_code == 200
    pairs = {line.split(",")[2] for line in response.text.splitlines()[1:]}
    assert pairs == {"UZS/KGS"}  # UZS/KZT never started
    (line,) = [r.getMessage() for r in caplog.records if "download cut off" in r.getMessage()]
    assert "crossed one by one" in line


def test_several_series_with_no_data_still_answer_what_was_asked(engine: Engine, database_url: str) -> None:
    """With nothing stored, the answer is its head alone: each ask its own, never another's cached one."""
    with serve(engine, database_url, []) as client:
        hourly = client.get("/rates/history", params={"interval": "1h"})
        daily = client.get("/rates/history", params={"interval": "1d", "tz": "Asia/Almaty", "base": "KZT"})
    assert hourly.json() == {"interval": "1h", "base": "USD", "series": []}
    assert daily.json() == {"interval": "1d", "base": "KZT", "tz": "Asia/Almaty", "series": []}
    assert hourly.headers["etag"] != daily.headers["etag"]
