"""The rate for a date (/rates/on/{date}, /rates/daily): a weekday fixing, a weekend and a holiday carried with
`carried_from`, NBK's local-midnight publication dated for the day it is for, a range across a month, another
base, the ticker at the end of a day in a named zone, CSV, and the bad requests."""

from __future__ import annotations

import csv
import decimal
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.domain.quotes import Quote
from app.domain.values import Value
from app.ingest.pipeline import store_quotes
from app.read.inforce import own_zone
from tests.series import query_settings, serve, span
from tests.support import at

# NBK (UTC+5) publishes each day's fixing at its local midnight, 19:05 UTC the day before, and is polled every
# half hour; it fixed nothing for the weekend of 4-5 April 2026 nor for Tuesday 7 April (a holiday).


def _fixing(currency: str, source: str, value: str, first: str, last: str, day: str) -> dict[str, object]:
    return span(currency, source, value, True, at(first), at(last), effective_date=at(day).date())


NBK = [
    _fixing("KZT", "nbk", "471.00", "2026-03-30T19:05", "2026-03-31T18:35", "2026-03-31"),
    _fixing("KZT", "nbk", "472.31", "2026-03-31T19:05", "2026-04-01T18:35", "2026-04-01"),
    _fixing("KZT", "nbk", "473.10", "2026-04-01T19:05", "2026-04-02T18:35", "2026-04-02"),
    _fixing("KZT", "nbk", "474.00", "2026-04-02T19:05", "2026-04-05T18:35", "2026-04-03"),
    _fixing("KZT", "nbk", "475.50", "2026-04-05T19:05", "2026-04-07T18:35", "2026-04-06"),
    _fixing("KZT", "nbk", "476.20", "2026-04-07T19:05", "2026-04-08T18:35", "2026-04-08"),
]
CBU = [_fixing("UZS", "cbu", "12142.10", "2026-04-01T19:10", "2026-04-02T18:40", "2026-04-02")]
# The ticker moved at 20:00 UTC on 1 April: 02:00 on the 2nd in Bishkek.
TICKER = [
    span("KGS", "ticker", "0.01144", False, at("2026-04-01T00:00"), at("2026-04-01T19:55")),
    span("KGS", "ticker", "0.01150", False, at("2026-04-01T20:00"), at("2026-04-02T06:00")),
]
ALL = NBK + CBU + TICKER
_15 = decimal.Context(prec=15, rounding=decimal.ROUND_HALF_EVEN)


def _on(client: TestClient, day: str, **params: str) -> dict[str, dict[str, Any]]:
    response = client.get(f"/rates/on/{day}", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["date"] == day
    return {r["currency"]: r for r in body["rates"]}


def test_a_weekday_fixing_is_the_one_the_bank_fixed_for_that_date(engine: Engine, database_url: str) -> None:
    with serve(engine, database_url, ALL) as client:
        kzt = _on(client, "2026-04-01", currencies="KZT", source="nbk")["KZT"]
    assert kzt["pair"] == "USD/KZT"
    assert Decimal(str(kzt["rate"])) == Decimal("472.31")  # tenge per dollar: NBK's own number, exactly
    assert Decimal(str(kzt["inverse"])) == _15.divide(1, Decimal("472.31"))
    assert kzt["effective_date"] == "2026-04-01"
    assert kzt["carried_from"] is None
    assert kzt["source"] == "nbk"


def test_nbk_s_local_midnight_fixing_is_dated_for_the_day_it_is_for(engine: Engine, database_url: str) -> None:
    """The fixing for 2 April arrived at 19:05 UTC on 1 April: it answers for 2 April, and 1 April keeps its own."""
    with serve(engine, database_url, ALL) as client:
        first = _on(client, "2026-04-01", currencies="KZT", source="nbk")["KZT"]
        second = _on(client, "2026-04-02", currencies="KZT", source="nbk")["KZT"]
    assert (first["rate"], first["effective_date"]) == (472.31, "2026-04-01")
    assert (second["rate"], second["effective_date"]) == (473.1, "2026-04-02")


def test_a_weekend_and_a_holiday_carry_the_last_fixing_and_say_from_when(engine: Engine, database_url: str) -> None:
    with serve(engine, database_url, ALL) as client:
        saturday = _on(client, "2026-04-04", currencies="KZT", source="nbk")["KZT"]
        sunday = _on(client, "2026-04-05", currencies="KZT", source="nbk")["KZT"]
        monday = _on(client, "2026-04-06", currencies="KZT", source="nbk")["KZT"]
        holiday = _on(client, "2026-04-07", currencies="KZT", source="nbk")["KZT"]
    for carried in (saturday, sunday):
        assert (carried["rate"], carried["effective_date"], carried["carried_from"]) == (
            474,
            "2026-04-03",
            "2026-04-03",
        )
    assert (monday["rate"], monday["carried_from"]) == (475.5, None)
    assert (holiday["rate"], holiday["effective_date"], holiday["carried_from"]) == (475.5, "2026-04-06", "2026-04-06")


def test_a_fixing_is_not_carried_beyond_the_source_s_hold(engine: Engine, database_url: str) -> None:
    """NBK last seen on 8 April: its rate holds eight days after that sighting, and no longer."""
    with serve(engine, database_url, ALL) as client:
        held = _on(client, "2026-04-15", currencies="KZT", source="nbk")
        gone = _on(client, "2026-04-20", currencies="KZT", source="nbk")
        before = _on(client, "2026-03-30", currencies="KZT", source="nbk")
    assert held["KZT"]["carried_from"] == "2026-04-08"
    assert gone == {}  # nothing in force: left out, not carried for ever
    assert before == {}  # nothing fixed yet


def test_another_base_crosses_each_leg_s_fixing_for_the_date(engine: Engine, database_url: str) -> None:
    with serve(engine, database_url, ALL) as client:
        rates = _on(client, "2026-04-02", currencies="USD,UZS", base="KZT")
    uzs, usd = rates["UZS"], rates["USD"]
    assert uzs["pair"] == "KZT/UZS"
    # Sum per tenge: CBU's 12142.10 sum per dollar over NBK's 473.10 tenge per dollar, at 15 significant digits.
    assert Decimal(str(uzs["rate"])) == _15.divide(Decimal("12142.10"), Decimal("473.10"))
    assert Decimal(str(uzs["inverse"])) == _15.divide(Decimal("473.10"), Decimal("12142.10"))
    assert uzs["legs"]["UZS"]["source"] == "cbu" and uzs["legs"]["KZT"]["source"] == "nbk"
    assert uzs["legs"]["KZT"]["effective_date"] == "2026-04-02"
    assert Decimal(str(usd["rate"])) == _15.divide(1, Decimal("473.10"))  # dollars per tenge
    assert Decimal(str(usd["inverse"])) == Decimal("473.10")


def test_the_ticker_answers_with_what_held_at_the_end_of_the_day_in_the_named_zone(
    engine: Engine, database_url: str
) -> None:
    with serve(engine, database_url, ALL) as client:
        utc = _on(client, "2026-04-01", currencies="KGS", source="ticker")["KGS"]
        bishkek = _on(client, "2026-04-01", currencies="KGS", source="ticker", tz="Asia/Bishkek")["KGS"]
    assert Decimal(str(utc["rate"])) == _15.divide(1, Decimal("0.01150"))  # som per dollar after 20:00 UTC
    assert Decimal(str(bishkek["rate"])) == _15.divide(1, Decimal("0.01144"))  # the day ended at 18:00 UTC there
    assert Decimal(str(bishkek["inverse"])) == Decimal("0.01144")  # the ticker's own number, exactly
    assert utc["effective_date"] is None and utc["carried_from"] is None


def test_a_range_across_a_month_answers_every_date(engine: Engine, database_url: str) -> None:
    with serve(engine, database_url, ALL) as client:
        params = {"start": "2026-03-30", "end": "2026-04-02", "currencies": "KZT", "source": "nbk"}
        response = client.get("/rates/daily", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["base"], body["start"], body["end"]) == ("USD", "2026-03-30", "2026-04-02")
    by_day = {d["date"]: [(r["rate"], r["effective_date"]) for r in d["rates"]] for d in body["days"]}
    assert by_day == {
        "2026-03-30": [],
        "2026-03-31": [(471, "2026-03-31")],
        "2026-04-01": [(472.31, "2026-04-01")],
        "2026-04-02": [(473.1, "2026-04-02")],
    }


def test_csv_has_a_row_per_date_and_currency_with_the_exact_decimals(engine: Engine, database_url: str) -> None:
    params = {"start": "2026-04-03", "end": "2026-04-06", "currencies": "KZT", "source": "nbk", "format": "csv"}
    with serve(engine, database_url, ALL) as client:
        response = client.get("/rates/daily", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["date"], r["pair"], r["rate"], r["effective_date"], r["carried_from"]) for r in rows] == [
        ("2026-04-03", "USD/KZT", "474.00", "2026-04-03", ""),
        ("2026-04-04", "USD/KZT", "474.00", "2026-04-03", "2026-04-03"),
        ("2026-04-05", "USD/KZT", "474.00", "2026-04-03", "2026-04-03"),
        ("2026-04-06", "USD/KZT", "475.50", "2026-04-06", ""),
    ]


def test_bad_dates_are_422s_that_say_what_to_give(engine: Engine, database_url: str) -> None:
    with serve(engine, database_url, ALL) as client:
        cases = {
            "/rates/on/2026-02-30": "is not a date",
            "/rates/on/yesterday": "is not a date",
            "/rates/on/2999-01-01": "is too far ahead; ask for a date up to",
            "/rates/daily?start=2026-04-02&end=2026-04-01": "is before start",
            "/rates/daily?start=2024-01-01&end=2026-01-01": "at most 366",
            "/rates/daily": "start",
        }
        for path, message in cases.items():
            response = client.get(path)
            assert response.status_code == 422, (path, response.text)
            assert message in response.text, (path, response.text)


def test_the_base_in_itself_is_one(engine: Engine, database_url: str) -> None:
    with serve(engine, database_url, ALL) as client:
        rates = _on(client, "2026-04-02", currencies="KZT,UZS", base="KZT")
    assert (rates["KZT"]["rate"], rates["KZT"]["inverse"], rates["KZT"]["source"]) == (1, 1, None)
    assert rates["KZT"]["pair"] == "KZT/KZT"
    assert Decimal(str(rates["UZS"]["rate"])) == _15.divide(Decimal("12142.10"), Decimal("473.10"))


def _announce_tomorrow(engine: Engine, database_url: str) -> tuple[date, date]:
    """NBKR's afternoon table, stored by the real pipeline: today's rate in force, tomorrow's announced."""
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.astimezone(own_zone("nbkr")).date()
    tomorrow = today + timedelta(days=1)
    quotes = [
        Quote("KGS", "nbkr", Value(Decimal("87.4500"), per_usd=True), now, today),
        Quote("KGS", "nbkr", Value(Decimal("87.6100"), per_usd=True), now, tomorrow),
    ]
    outcome = store_quotes(
        engine, query_settings(database_url), "nbkr", quotes, started_at=now, entries_seen=2, not_after=today
    )
    assert outcome.result is not None and (outcome.result.opened, outcome.result.announced) == (1, 1)
    assert "1 announced for a later day" in outcome.summary()
    return today, tomorrow


def test_a_rate_published_for_tomorrow_answers_for_tomorrow_as_announced(engine: Engine, database_url: str) -> None:
    today, tomorrow = _announce_tomorrow(engine, database_url)
    with serve(engine, database_url, []) as client:
        now_ = _on(client, today.isoformat(), currencies="KGS", source="nbkr")["KGS"]
        next_ = _on(client, tomorrow.isoformat(), currencies="KGS", source="nbkr")["KGS"]
        dollar = _on(client, tomorrow.isoformat(), currencies="USD", source="nbkr", base="KGS")["USD"]
        latest = client.get("/rates/latest", params={"currencies": "KGS", "source": "nbkr"}).json()["rates"][0]
        frankfurter = client.get(f"/frankfurter/v1/{tomorrow}", params={"symbols": "KGS"})
        rows = list(csv.DictReader(io.StringIO(client.get(
            "/rates/daily", params={"start": today.isoformat(), "end": tomorrow.isoformat(), "currencies": "KGS",
                                    "source": "nbkr", "format": "csv"}).text)))  # fmt: skip
    assert (now_["rate"], now_["effective_date"], now_["announced"]) == (87.45, today.isoformat(), False)
    assert (next_["rate"], next_["effective_date"], next_["announced"]) == (87.61, tomorrow.isoformat(), True)
    assert next_["carried_from"] is None
    assert dollar["rate"] == float(_15.divide(1, Decimal("87.61"))) and dollar["announced"] is True  # dollars per som
    assert dollar["legs"]["KGS"]["announced"] is True
    # Never the rate in force before its date: every instant view still answers today's fixing.
    assert (latest["rate"], latest["effective_date"]) == (87.45, today.isoformat())
    # Frankfurter's shape cannot mark a rate as announced: the day has not begun in Bishkek, so it has none yet.
    assert frankfurter.status_code == 404 and "87.61" not in frankfurter.text, frankfurter.text
    assert [(r["date"], r["rate"], r["announced"]) for r in rows] == [
        (today.isoformat(), "87.4500", "false"),
        (tomorrow.isoformat(), "87.6100", "true"),
    ]


def test_an_announcement_the_bank_corrects_answers_with_the_correction(engine: Engine, database_url: str) -> None:
    today, tomorrow = _announce_tomorrow(engine, database_url)
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    corrected = Quote("KGS", "nbkr", Value(Decimal("87.5900"), per_usd=True), later, tomorrow)
    store_quotes(engine, query_settings(database_url), "nbkr", [corrected], started_at=later, entries_seen=1,
                 not_after=today)  # fmt: skip
    with serve(engine, database_url, []) as client:
        next_ = _on(client, tomorrow.isoformat(), currencies="KGS", source="nbkr")["KGS"]
    assert (next_["rate"], next_["announced"]) == (87.59, True)
