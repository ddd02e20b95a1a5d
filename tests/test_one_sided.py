"""Answers over data one side lacks: a leg of a cross with no data at all, none in the range, ending before it or
beginning after it. No data is never a 5xx and never a download cut short: raw history has no points, buckets
are null, CSV has no rows for the pair, a single change is a 404 that says where the data is, and the answers
about several currencies leave out the ones with nothing to show. The examples pin each case; the property test at
the end draws such data for every endpoint that crosses and holds the answers to the references."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from app.api.app import create_app
from app.core.jsonenc import iso
from app.core.settings import Settings
from app.domain.calendar import Calendar, Interval
from app.domain.cross import cross
from app.domain.steps import Span
from app.domain.values import Value
from app.read import export
from app.read.history import stamp
from app.read.series import edges_of
from app.sources.registry import cadence
from tests.reference import CrossSeries, bucket, stretches
from tests.reference import Series as RefSeries
from tests.series import insert_spans, query_settings, serve, span
from tests.support import at, detail_of

USD = "USD"

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
BUCKET_HEADER = "timestamp,currency,pair,rate,average,inverse,source"
USD_KZT = "2026-04-01T03:00:00Z,2026-04-02T09:30:00Z,USD,KZT/USD,0.00210486434149319,475.09,,erapi"
# 12142.10 / 475.09 (sum per tenge) and its inverse, at 15 significant digits; from 03:10, when both legs are known
UZS_KZT = "2026-04-01T03:10:00Z,2026-04-02T09:30:00Z,UZS,KZT/UZS,25.5574733208445,0.0391274985381441,cbu,erapi"


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
    # KZT/USD, then KZT/KGS (no KGS in the range: no rows), TJS (none in the range), KZT/UZS; TMT (no data) left out
    assert response.text.splitlines() == [RAW_HEADER, USD_KZT, UZS_KZT]
    assert response.content.endswith(b"\r\n")
    days = april.get("/rates/export.csv", params={**RANGE, "base": "KZT", "interval": "1d"})
    assert [line.split(",")[2] for line in days.text.splitlines()[1:]] == ["KZT/USD", "KZT/USD", "KZT/UZS", "KZT/UZS"]


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
        assert csv.text == BUCKET_HEADER + ",base_source\r\n"


def test_a_change_in_a_base_one_leg_of_which_is_missing_is_a_404_that_says_where_the_data_is(
    april: TestClient,
) -> None:
    response = april.get("/rates/KGS/change", params={**RANGE, "base": "KZT"})
    assert response.status_code == 404
    assert response.json()["detail"] == (
        "no KZT/KGS rate between 2026-04-01T00:00:00Z and 2026-04-02T00:00:00Z (KGS from ticker: it has data from "
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
    assert [r["pair"] for r in kzt["rates"]] == ["KZT/USD", "KZT/UZS"]
    later = april.get("/convert", params={"from": "TJS", "to": "KZT", "amount": "1", "at": "2026-04-01T12:00"})
    assert later.status_code == 404
    assert later.json()["detail"] == (
        "no TJS rate from ticker in force at 2026-04-01T12:00:00Z; its first value is from 2026-04-03T00:00:00Z"
    )
    none = april.get("/convert", params={"from": "KZT", "to": "TMT", "amount": "1", "at": "2026-04-01T12:00"})
    assert (none.status_code, detail_of(none, "no-data")) == (404, "no data for TMT yet")
    # A value past its hold is no rate (KGS was last seen two days before): as /rates/at leaves it out
    old = april.get("/convert", params={"from": "KGS", "to": "KZT", "amount": "1", "at": "2026-04-01T12:00"})
    assert old.status_code == 404
    assert detail_of(old, "no-data") == (
        "no KGS rate from ticker in force at 2026-04-01T12:00:00Z; its last value was seen at 2026-03-30T06:00:00Z"
    )


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
                {"since": "2026-01-01T01:00:00Z", "until": "2026-01-01T01:00:00Z", "rate": Decimal("0.2"), "inverse": 5}
            ], start
            csv = client.get("/rates/KGS/history", params={**params, "format": "csv"}).text.splitlines()
            assert csv[1:] == ["2026-01-01T01:00:00Z,2026-01-01T01:00:00Z,KGS,KZT/KGS,0.2,5,ticker,ticker"], start
        # Seen no later than 01:00, the piece is not listed for a range that begins after it (as a span is not)
        later = {"start": "2026-01-01T01:02", "end": "2026-01-01T02:00", "base": "KZT", "source": "ticker"}
        assert body(client.get("/rates/KGS/history", params=later))["points"] == []
        one_hour = {**later, "start": "2026-01-01T01:00", "end": "2026-01-01T01:00", "interval": "1h"}
        (hour,) = body(client.get("/rates/KGS/history", params=one_hour))["points"]
    assert (hour["open"], hour["close"], hour["average"]) == (Decimal("0.2"), Decimal("0.2"), Decimal("0.2"))


# --- every endpoint that crosses, on drawn data ------------------------------------------------------------------
#
# Each currency has one source: KGS and UZS the ticker (their cross is read from the pair rollups), KZT the
# aggregator (crossed with the others leg by leg); TJS and TMT have no data at all. Each leg is drawn in one of
# four shapes around a drawn range; the answers are held to the references of tests/reference.py, and every CSV to
# the JSON answer of the same query. The ranges lie around a Sunday evening: a Monday (in UTC, Almaty and
# Kolkata) and the 1st of July are within reach, so weeks and months are cut too.

ORIGIN = at("2025-06-29T18:00")
SOURCES = {"KGS": "ticker", "KZT": "erapi", "UZS": "ticker"}
VALUES = {
    "KGS": [("0.01144", False), ("0.0115", False), ("87.5", True)],
    "KZT": [("480", True), ("497.12", True), ("0.002", False)],
    "UZS": [("12500", True), ("0.00008", False), ("12713.06", True)],
}
CONFIGURED = ["KGS", "KZT", "TJS", "UZS", "TMT"]
MINUTE = timedelta(minutes=1)
MISSING = "missing"  # a currency with no data from any source: NoData, a 404 asked alone


@dataclass(frozen=True)
class Drawn:
    start: datetime
    end: datetime
    interval: str
    zone: str
    base: str
    asked: str | None  # source=
    rows: dict[str, list[dict[str, Any]]]  # currency -> its spans as stored

    def params(self, **extra: str) -> dict[str, str]:
        found = {"start": iso(self.start), "end": iso(self.end), "interval": self.interval, "base": self.base}
        if self.interval != "raw":
            found["tz"] = self.zone
        if self.asked is not None:
            found["source"] = self.asked
        return found | extra

    def quotes(self) -> list[str]:
        """The currencies of an answer in the base, in answer order (TMT left out: TJS stands for it)."""
        return [c for c in ["USD", *CONFIGURED[:-1]] if c != self.base]


@st.composite
def leg(draw: st.DrawFn, currency: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """A leg's spans: none, all ending before the range (the last maybe holding into it), all beginning at or
    after its end, or beginning up to three hours before it (as likely as the other three shapes together, so that
    the two legs of a cross often meet)."""
    shape = draw(st.sampled_from(["around", "none", "before", "around", "after", "around"]))
    if shape == "none":
        return []
    times, moment = [], 0
    for _ in range(draw(st.integers(1, 6))):
        length = draw(st.integers(0, 120))
        times.append((moment, moment + length))
        moment += length + draw(st.integers(1, 90))
    if shape == "before":
        origin = start - MINUTE * (draw(st.integers(1, 45)) + times[-1][1])
    elif shape == "after":
        origin = end + MINUTE * draw(st.integers(0, 60))
    else:
        origin = start - MINUTE * draw(st.integers(0, 180))
    return [
        span(currency, SOURCES[currency], *draw(st.sampled_from(VALUES[currency])), origin + MINUTE * first,
             origin + MINUTE * last)
        for first, last in times
    ]  # fmt: skip


@st.composite
def drawn(draw: st.DrawFn) -> Drawn:
    start = ORIGIN + MINUTE * draw(st.integers(0, 2 * 1440))
    end = start + MINUTE * draw(st.sampled_from([0, 1, 59, 60, 300, 1440, 2880]))
    interval = draw(st.sampled_from(["raw", "1h", "raw", "1d", "1w", "1mo"]))  # raw crosses: where the 500s were
    zone = draw(st.sampled_from(["UTC", "Asia/Almaty", "Asia/Kolkata"]))
    rows = {currency: draw(leg(currency, start, end)) for currency in SOURCES}
    base = draw(st.sampled_from(["USD", "KZT", "UZS"]))
    return Drawn(start, end, interval, zone, base, draw(st.sampled_from([None, "ticker"])), rows)


class Reference:
    """What the answers about `drawn` should be, from its spans alone."""

    def __init__(self, drawn: Drawn, settings: Settings) -> None:
        self.d = drawn
        self.settings = settings

    def source(self, code: str) -> str:
        return self.d.asked or SOURCES.get(code, "ticker")

    def series(self, code: str) -> RefSeries | str | None:
        """The series of `code` the answers read (None: USD; MISSING: no data from any source, none asked)."""
        if code == USD:
            return None
        rows = [r for r in self.d.rows.get(code, []) if r["source"] == self.source(code)]
        if self.d.asked is None and not rows:
            return MISSING
        spans = [Span(r["first_seen"], r["last_seen"], Value(Decimal(r["value"]), r["per_usd"])) for r in rows]
        return RefSeries(spans, cadence(self.settings, self.source(code)).hold)

    def legs(self, code: str) -> tuple[RefSeries | None, RefSeries | None] | str:
        """The two legs of `code` in the base, or the detail of the 404 when one has no data at all."""
        legs = self.series(code), self.series(self.d.base)
        for name, found in zip((code, self.d.base), legs, strict=True):
            if found == MISSING:
                return f"no data for {name} yet"
        quote, base = legs
        assert not isinstance(quote, str) and not isinstance(base, str)
        return quote, base

    def points(self, code: str) -> list[dict[str, Any]]:
        legs = self.legs(code)
        assert not isinstance(legs, str)
        quote, base = legs
        d = self.d
        if d.interval == "raw" and base is None:
            assert quote is not None
            return [
                {"since": iso(s.first_seen), "until": iso(s.last_seen), "rate": s.value.per_base,
                 "inverse": s.value.in_base, "observations": 1, "effective_date": None}
                for s in quote.spans
                if s.first_seen <= d.end and s.last_seen >= d.start
            ]  # fmt: skip
        if d.interval == "raw":
            return [
                {"since": iso(p.since), "until": iso(p.until), "rate": p.rate, "inverse": p.inverse}
                for p in stretches(CrossSeries(quote, base), d.start, d.end)
            ]
        zone = ZoneInfo(d.zone) if d.zone != "UTC" else UTC
        edges = edges_of(Calendar(cast(Interval, d.interval), zone), d.start, d.end)
        series: RefSeries | CrossSeries = quote if base is None and quote is not None else CrossSeries(quote, base)
        found = []
        for a, b in pairwise(edges):
            e = bucket(series, a, b)
            found.append({"t": stamp(a, zone), "open": e.open, "high": e.high, "low": e.low, "close": e.close,
                          "average": e.average, "inverse": e.close_inverse})  # fmt: skip
        return found

    def change(self, code: str) -> tuple[datetime, Decimal, datetime, Decimal] | None:
        """(start_at, start_rate, end_at, end_rate): each end the legs' values in force then (the rule of /rates/at),
        from the first instant both are in force to the last."""
        legs = self.legs(code)
        if isinstance(legs, str):
            return None
        d, firsts, lasts = self.d, [], []
        for found in legs:
            if found is None:
                continue
            later = [s.first_seen for s in found.spans if d.start < s.first_seen <= d.end]
            if found.held(d.start) is None and not later:
                return None
            firsts.append(d.start if found.held(d.start) is not None else min(later))
            ending = found.known(d.end)
            assert ending is not None  # a span begins in the range at the latest
            lasts.append(d.end if found.held(d.end) is not None else ending.last_seen + found.hold)
        start_at, end_at = max(firsts, default=d.start), min(lasts, default=d.end)
        first, last = CrossSeries(*legs).at(start_at), CrossSeries(*legs).at(end_at)
        if start_at > end_at or first is None or last is None:
            return None
        return start_at, first.per_base, end_at, last.per_base

    def at(self, moment: datetime) -> list[tuple[str, Decimal]]:
        found = []
        for code in [c for c in [USD, *CONFIGURED] if c != self.d.base]:
            legs = self.legs(code)
            if isinstance(legs, str):
                continue
            level = CrossSeries(*legs).at(moment)
            if level is not None:
                found.append((code, level.per_base))
        return found


def csv_rows(text: str) -> list[tuple[Any, ...]]:
    """A CSV body's rows, numbers as Decimals (so that 0.0115 and 0.01150 compare equal, as in JSON)."""
    lines = text.split("\r\n")
    assert lines[-1] == "", "the file ends with a line break"
    header = lines[0].split(",")
    numbers = {header.index(name) for name in ("rate", "inverse", "average") if name in header}
    return [
        tuple(Decimal(f) if n in numbers and f else f for n, f in enumerate(line.split(","))) for line in lines[1:-1]
    ]


def _check_history(client: TestClient, d: Drawn, ref: Reference, code: str) -> tuple[list[Any], str]:
    """One currency's history in JSON and CSV against the reference; its points, and its CSV rows as sent."""
    params = d.params()
    answer = client.get(f"/rates/{code}/history", params=params)
    csv = client.get(f"/rates/{code}/history", params={**params, "format": "csv"})
    legs = ref.legs(code)
    if isinstance(legs, str):
        assert (answer.status_code, detail_of(answer, "no-data")) == (404, legs)
        assert (csv.status_code, detail_of(csv, "no-data")) == (404, legs)
        return [], ""
    points = body(answer)["points"]
    expected = ref.points(code)
    sources = [ref.source(c) if c != USD else "" for c in (code, d.base)]
    pair = [code, f"{d.base}/{code}"]
    if d.interval == "raw":
        assert points == expected
        rows = [(p["since"], p["until"], *pair, p["rate"], p["inverse"], *sources) for p in points]
    else:
        assert points == [{k: v for k, v in p.items() if k != "inverse"} for p in expected]
        rows = [
            (p["t"], *pair, p["close"], p["average"], p["inverse"], *sources)
            for p in expected
            if p["close"] is not None
        ]
    assert csv.status_code == 200
    assert csv_rows(csv.text) == [row if d.base != USD else row[:-1] for row in rows]
    return points, csv.text.split("\r\n", 1)[1]


def _check_changes(client: TestClient, d: Drawn, ref: Reference) -> None:
    params = {k: v for k, v in d.params().items() if k not in ("interval", "tz")}
    listed = []
    for code in d.quotes():
        response = client.get(f"/rates/{code}/change", params=params)
        expected = ref.change(code)
        if expected is None:
            assert response.status_code == 404, response.text
            continue
        moved = body(response)
        start_at, start_rate, end_at, end_rate = expected
        assert (moved["start_at"], moved["start_rate"]) == (iso(start_at), start_rate)
        assert (moved["end_at"], moved["end_rate"]) == (iso(end_at), end_rate)
        listed.append(code)
    changes = body(client.get("/rates/changes", params={**params, "currencies": ",".join(d.quotes())}))
    assert [c["currency"] for c in changes["changes"]] == listed


def _check_at_and_convert(client: TestClient, d: Drawn, ref: Reference) -> None:
    extra = {"source": d.asked} if d.asked else {}
    rates = body(client.get(f"/rates/at/{iso(d.start)}", params={"base": d.base, **extra}))["rates"]
    assert [(r["currency"], r["rate"]) for r in rates] == ref.at(d.start)
    for code in d.quotes():
        response = client.get("/convert", params={"from": code, "to": d.base, "amount": "1000", "at": iso(d.start),
                                                  **extra})  # fmt: skip
        values: list[Value | None] = []
        for side in (code, d.base):  # each side in turn: the first without a value in force then is the 404
            found = ref.series(side)
            span = found.held(d.start) if isinstance(found, RefSeries) else None
            if found == MISSING:
                assert (response.status_code, detail_of(response, "no-data")) == (404, f"no data for {side} yet")
                break
            if found is not None and span is None:
                assert response.status_code == 404, response.text  # it says when the data begins
                break
            values.append(span.value if span is not None else None)
        if len(values) < 2:
            continue
        assert body(response)["rate"] == cross(Decimal(1000), *values)[0]


@pytest.fixture
def drawn_client(engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr(export, "EXPORT_PAGE", 3)  # raw CSV pages of three spans: crosses cut across pages
    with TestClient(create_app(query_settings(database_url))) as client:
        yield client


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(d=drawn())
def test_every_crossing_answer_on_one_sided_data_is_what_the_reference_says(
    drawn_client: TestClient, engine: Engine, d: Drawn
) -> None:
    client = drawn_client
    insert_spans(engine, [row for rows in d.rows.values() for row in rows], replace=True)
    client.app.state.latest.reload()  # type: ignore[attr-defined]  # each currency's default source, at once
    ref = Reference(d, client.app.state.settings)  # type: ignore[attr-defined]
    single = {code: _check_history(client, d, ref, code) for code in d.quotes()}
    answered = [code for code in d.quotes() if not isinstance(ref.legs(code), str)]
    many = body(client.get("/rates/history", params=d.params(currencies=",".join(d.quotes()))))
    assert [(s["currency"], s["points"]) for s in many["series"]] == [(code, single[code][0]) for code in answered]
    everything = client.get("/rates/export.csv", params=d.params(currencies=",".join(d.quotes())))
    assert everything.status_code == 200
    header = "timestamp,until,currency,pair,rate,inverse,source" if d.interval == "raw" else BUCKET_HEADER
    header += ",base_source" if d.base != USD else ""  # in another base, even with no pair to show
    assert everything.text == header + "\r\n" + "".join(single[code][1] for code in answered)
    _check_changes(client, d, ref)
    _check_at_and_convert(client, d, ref)
