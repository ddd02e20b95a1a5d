"""Every bad parameter is a 4xx whose detail says what is wrong and how to fix it; none is a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from tests.series import serve, span
from tests.support import at, detail_of

CODES = "KGS, KZT, TJS, UZS, TMT, RUB, EUR, CNY"
SOURCES = "nbk, nbkr, nbt, cbu, cbt, peg, erapi, ticker"
BAD_TIME = "is not an ISO 8601 date or time; use e.g. 2026-02-23 or 2026-02-23T10:00:00Z"
CONVERT = {"from": "KZT", "to": "UZS", "at": "2026-01-01T02:00"}


@pytest.fixture
def client(engine: Engine, database_url: str) -> Iterator[TestClient]:
    with serve(engine, database_url) as client:
        yield client


CASES: list[tuple[str, dict[str, str], int, str]] = [
    # unknown currency
    ("/rates/GBP/history", {}, 422, f"parameter 'currency': unknown currency 'GBP'; valid codes: {CODES}"),
    ("/rates/GBP/change", {}, 422, f"parameter 'currency': unknown currency 'GBP'; valid codes: {CODES}"),
    (
        "/rates/export.csv",
        {"currencies": "KZT,gbp"},
        422,
        f"parameter 'currencies': unknown currency 'GBP'; valid codes: {CODES}",
    ),
    (
        "/rates/changes",
        {"currencies": "XXX"},
        422,
        f"parameter 'currencies': unknown currency 'XXX'; valid codes: {CODES}",
    ),
    (
        "/convert",
        {**CONVERT, "from": "GBP", "amount": "1"},
        422,
        f"parameter 'from': unknown currency 'GBP'; valid codes: USD, {CODES}",
    ),
    (
        "/convert",
        {**CONVERT, "to": "", "amount": "1"},
        422,
        "parameter 'to': '' is blank; give a code such as KZT",
    ),
    # bad dates
    ("/rates/KZT/history", {"start": "2026-13-01"}, 422, f"parameter 'start': '2026-13-01' {BAD_TIME}"),
    ("/rates/KZT/history", {"end": "yesterday"}, 422, f"parameter 'end': 'yesterday' {BAD_TIME}"),
    ("/rates/KZT/change", {"start": "01/02/2026"}, 422, f"parameter 'start': '01/02/2026' {BAD_TIME}"),
    ("/rates/export.csv", {"end": "2026-01-01T25:00"}, 422, f"parameter 'end': '2026-01-01T25:00' {BAD_TIME}"),
    ("/convert", {**CONVERT, "amount": "1", "at": "noon"}, 422, f"parameter 'at': 'noon' {BAD_TIME}"),
    (
        "/rates/KZT/history",
        {"start": "0001-01-01T00:00+05:00"},
        422,
        f"parameter 'start': '0001-01-01T00:00+05:00' {BAD_TIME}",
    ),
    (
        "/rates/KZT/history",
        {"start": "1066-10-14"},
        422,
        "parameter 'start': '1066-10-14' is out of range; use a time from 1900 to 2999",
    ),
    # start after end
    (
        "/rates/KZT/history",
        {"start": "2026-02-01", "end": "2026-01-01"},
        422,
        "start (2026-02-01T00:00:00Z) is after end (2026-01-01T00:00:00Z); give a start at or before the end",
    ),
    (
        "/rates/KZT/change",
        {"start": "2026-02-01", "end": "2026-01-01"},
        422,
        "start (2026-02-01T00:00:00Z) is after end (2026-01-01T00:00:00Z); give a start at or before the end",
    ),
    (
        "/rates/export.csv",
        {"start": "2026-02-01T00:00+05:00", "end": "2026-01-31T18:00"},
        422,
        "start (2026-01-31T19:00:00Z) is after end (2026-01-31T18:00:00Z); give a start at or before the end",
    ),
    # unknown interval, period, format
    (
        "/rates/KZT/history",
        {"interval": "5m"},
        422,
        "parameter 'interval': Input should be 'raw', '1h', '1d', '1w' or '1mo'",
    ),
    (
        "/rates/export.csv",
        {"interval": "1M"},
        422,
        "parameter 'interval': Input should be 'raw', '1h', '1d', '1w' or '1mo'",
    ),
    (
        "/rates/KZT/change",
        {"period": "2w"},
        422,
        "parameter 'period': Input should be '24h', '7d', '30d', '90d' or '1y'",
    ),
    ("/rates/changes", {"period": "1d"}, 422, "parameter 'period': Input should be '24h', '7d', '30d', '90d' or '1y'"),
    (
        "/rates/KZT/change",
        {"period": "7d", "start": "2026-01-01"},
        422,
        "give either 'period' or 'start' (with an optional 'end'), not both",
    ),
    ("/rates/KZT/history", {"format": "xml"}, 422, "parameter 'format': Input should be 'json' or 'csv'"),
    # amounts
    (
        "/convert",
        {**CONVERT, "amount": "-5"},
        422,
        "parameter 'amount': amount '-5' is not positive; give a number greater than 0",
    ),
    (
        "/convert",
        {**CONVERT, "amount": "0"},
        422,
        "parameter 'amount': amount '0' is not positive; give a number greater than 0",
    ),
    (
        "/convert",
        {**CONVERT, "amount": "ten"},
        422,
        "parameter 'amount': amount 'ten' is not a number; give a positive number such as 1000 or 12.5",
    ),
    (
        "/convert",
        {**CONVERT, "amount": "1,000"},
        422,
        "parameter 'amount': amount '1,000' is not a number; give a positive number such as 1000 or 12.5",
    ),
    (
        "/convert",
        {**CONVERT, "amount": "NaN"},
        422,
        "parameter 'amount': amount 'NaN' is not a finite number; give a positive number such as 1000 or 12.5",
    ),
    (
        "/convert",
        {**CONVERT, "amount": "-Infinity"},
        422,
        "parameter 'amount': amount '-Infinity' is not a finite number; give a positive number such as 1000 or 12.5",
    ),
    (
        "/convert",
        {**CONVERT, "amount": "1000000000000000.01"},
        422,
        "parameter 'amount': amount '1000000000000000.01' is larger than 10^15 (1000000000000000); "
        "give a smaller amount",
    ),
    (
        "/convert",
        {**CONVERT, "amount": ""},
        422,
        "parameter 'amount': amount is empty; give a positive number such as 1000 or 12.5",
    ),
    (
        "/convert",
        {**CONVERT, "amount": "1" * 65},
        422,
        "parameter 'amount': amount is 65 characters long; give a number of at most 64",
    ),
    ("/convert", CONVERT, 422, "parameter 'amount': Field required"),
    # too many buckets
    (
        "/rates/KZT/history",
        {"start": "2020-01-01", "end": "2026-01-01", "interval": "1h"},
        422,
        "interval=1h from 2020-01-01T00:00:00Z to 2026-01-01T00:00:00Z gives 52,609 buckets, more than the limit of "
        "10,000; use interval=1d (2,193 buckets) or a shorter range",
    ),
    (
        "/rates/export.csv",
        {"start": "1900-01-01", "end": "2999-01-01", "interval": "1mo"},
        422,
        "interval=1mo from 1900-01-01T00:00:00Z to 2999-01-01T00:00:00Z gives 13,189 buckets, more than the limit of "
        "10,000; use a shorter range",
    ),
    # unknown source
    (
        "/rates/KZT/history",
        {"source": "bloomberg"},
        422,
        f"unknown or disabled source 'bloomberg'; enabled sources: {SOURCES}",
    ),
    ("/rates/KZT/change", {"source": "x"}, 422, f"unknown or disabled source 'x'; enabled sources: {SOURCES}"),
    ("/rates/changes", {"source": "x"}, 422, f"unknown or disabled source 'x'; enabled sources: {SOURCES}"),
    ("/rates/export.csv", {"source": "x"}, 422, f"unknown or disabled source 'x'; enabled sources: {SOURCES}"),
    (
        "/convert",
        {**CONVERT, "amount": "1", "source": "x"},
        422,
        f"unknown or disabled source 'x'; enabled sources: {SOURCES}",
    ),
]


@pytest.mark.parametrize(("path", "params", "status", "detail"), CASES, ids=[f"{c[0]}-{c[3][:40]}" for c in CASES])
def test_bad_parameter(client: TestClient, path: str, params: dict[str, str], status: int, detail: str) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status
    assert detail_of(response) == detail


def test_a_raw_range_with_too_many_spans(engine: Engine, database_url: str) -> None:
    start = at("2026-01-01T00:00")
    rows = [
        span(
            "KGS",
            "ticker",
            f"0.0{11000 + i % 7}",
            False,
            start + timedelta(minutes=i),
            start + timedelta(minutes=i, seconds=30),
        )
        for i in range(10_001)
    ]
    with serve(engine, database_url, rows) as client:
        response = client.get("/rates/KGS/history", params={"start": "2026-01-01", "end": "2026-01-08"})
        fine = client.get("/rates/KGS/history", params={"start": "2026-01-01", "end": "2026-01-08", "interval": "1h"})
        streamed = client.get(
            "/rates/KGS/history", params={"start": "2026-01-01", "end": "2026-01-08", "format": "csv"}
        )
    assert response.status_code == 422
    assert detail_of(response, "too-many-points") == (
        "more than 10,000 spans of KGS from ticker between 2026-01-01T00:00:00Z and 2026-01-08T00:00:00Z; "
        "narrow the range, ask for interval=1h (or 1d, 1w, 1mo), or for format=csv, which streams any number"
    )
    assert fine.status_code == 200 and len(fine.json()["points"]) == 169
    assert streamed.status_code == 200 and len(streamed.text.splitlines()) == 10_002


def _minutes(currency: str, base: str, count: int) -> list[dict[str, Any]]:
    start = at("2026-01-01T00:00")
    return [
        span(currency, "ticker", f"{base}{i % 7}", False, start + timedelta(minutes=i), start + timedelta(minutes=i))
        for i in range(count)
    ]


@contextmanager
def _statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every SQL statement any engine runs meanwhile, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        seen.append((args[2], args[3]))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def test_several_raw_series_too_many_in_all_are_refused_from_counts(engine: Engine, database_url: str) -> None:
    """Two series of 6,000 spans each: each fits one answer, together they do not. The refusal is decided by
    counting (an index scan), before a single span of either is read."""
    rows = _minutes("KGS", "0.0114", 6_000) + _minutes("KZT", "0.0020", 6_000)
    params = {"currencies": "KGS,KZT", "source": "ticker", "start": "2026-01-01", "end": "2026-01-08"}
    with serve(engine, database_url, rows) as client:
        client.get("/rates/latest")
        with _statements(engine) as statements:
            refused = client.get("/rates/history", params=params)
        one = client.get("/rates/history", params={**params, "currencies": "KGS"})
    assert refused.status_code == 422
    assert detail_of(refused, "too-many-points") == (
        "more than 10,000 spans in all; ask fewer currencies, a narrower range or an interval, or for "
        "format=csv, which streams any number"
    )
    # Spans read at all are one-row lookups (the span in force at the range's ends, which key the cached answer).
    limits = [
        value
        for statement, parameters in statements
        if "rate_span.value" in statement
        for value in (parameters.values() if isinstance(parameters, dict) else parameters)
        if isinstance(value, int)
    ]
    assert limits and max(limits) == 1, "spans were read before the refusal"
    assert one.status_code == 200 and len(one.json()["series"][0]["points"]) == 6_000


def test_several_raw_crosses_too_many_in_all_are_refused_within_the_limit(engine: Engine, database_url: str) -> None:
    """A cross's stretches are known only once crossed: the answer stops crossing once the series before have
    taken the limit, rather than crossing every series first."""
    rows = _minutes("KGS", "0.0114", 6_000) + _minutes("TJS", "0.105", 6_000) + _minutes("KZT", "0.0020", 6_000)
    params = {"currencies": "KGS,TJS", "source": "ticker", "base": "KZT", "start": "2026-01-01", "end": "2026-01-08"}
    with serve(engine, database_url, rows) as client:
        refused = client.get("/rates/history", params=params)
        one = client.get("/rates/history", params={**params, "currencies": "KGS"})
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("more than 10,000 spans in all; ")
    assert one.status_code == 200 and len(one.json()["series"][0]["points"]) == 6_000


WEIRD = [
    "2026-01-01T00:00:00+99:00",
    "9999-12-31T23:59:59-05:00",
    "2026-01-01T00:00:00.1234567",
    "\x00",
    "x" * 5000,
    "2026-W01",
    "20260101",
    "2026-01-01 10:00",
    "2026-01-01T10:00:00 05:00",
    "+2026",
    "NaN",
    "-1",
]


@pytest.mark.parametrize("value", WEIRD)
def test_no_time_or_amount_gives_a_5xx(client: TestClient, value: str) -> None:
    for path, name in (
        ("/rates/KZT/history", "start"),
        ("/rates/KZT/history", "end"),
        ("/rates/KZT/change", "end"),
        ("/rates/export.csv", "start"),
        ("/convert", "at"),
        ("/convert", "amount"),
    ):
        params = {**CONVERT, "amount": "1", name: value} if path == "/convert" else {name: value}
        response = client.get(path, params=params)
        assert response.status_code < 500, (path, name, value, response.text)
        if response.status_code >= 400:
            assert response.json()["detail"]


def test_an_unencoded_plus_in_an_offset_is_understood(client: TestClient) -> None:
    response = client.get("/rates/KZT/change?start=2026-01-01T06:35:00+05:00&end=2026-01-01T07:00:00+05:00")
    assert response.status_code == 200
    assert response.json()["start_at"] == "2026-01-01T01:35:00Z"


@pytest.mark.parametrize(
    ("path", "params", "detail"),
    [
        ("/convert", {**CONVERT, "amount": "1_000"}, "amount '1_000' is not a number"),
        ("/convert", {**CONVERT, "amount": "\u0661\u0660\u0660"}, "is not a number"),  # Arabic-Indic 100
        ("/convert", {**CONVERT, "amount": "1E-1000000000000000100"}, "is not a number"),
        ("/convert", {**CONVERT, "amount": "1e-19"}, "amount '1e-19' is smaller than 10^-18"),
    ],
)
def test_what_python_would_take_but_no_client_means_is_refused(
    client: TestClient, path: str, params: dict[str, str], detail: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]


@pytest.mark.parametrize("path", ["/rates/latest", "/rates/changes", "/rates/export.csv", "/rates/history"])
@pytest.mark.parametrize("empty", ["", ",", " , ", ",,"])
def test_a_list_of_no_currency_means_all_however_it_is_written(client: TestClient, path: str, empty: str) -> None:
    """`currencies=` (an unfilled form field) and `currencies=,` are one thing: a list with nothing in it, which
    means what leaving the parameter out means."""
    absent = client.get(path)
    given = client.get(path, params={"currencies": empty})
    assert (given.status_code, given.content) == (absent.status_code, absent.content)
    assert given.status_code in (200, 404)  # an empty store: /rates/history says no currency has data yet


@pytest.mark.parametrize("blank", [" ", "\t", "\n", "  ", " \t "])
def test_a_blank_path_segment_is_a_422_that_names_the_parameter(client: TestClient, blank: str) -> None:
    for path, name in (("/rates/at/{}", "when"), ("/rates/{}/history", "currency"), ("/rates/{}/change", "currency")):
        response = client.get(path.format(quote(blank)))
        assert response.status_code == 422, (path, response.text)
        assert response.json()["detail"].startswith(f"parameter '{name}': {blank!r} is blank; give "), response.text
