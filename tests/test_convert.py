"""`/convert`: cross rates through USD on decimals, USD on either side, and times without a rate."""

from __future__ import annotations

import decimal
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.series import series_rows, serve, span
from tests.support import at, detail_of


@pytest.fixture
def client(engine: Engine, database_url: str) -> Iterator[TestClient]:
    rows = [
        *series_rows(),
        span("KZT", "erapi", "512.34", True, at("2026-01-02T00:00"), at("2026-01-02T12:00")),
        span("UZS", "cbu", "12345.67", True, at("2026-01-02T00:00"), at("2026-01-02T12:00")),
    ]
    with serve(engine, database_url, rows) as client:
        yield client


def exact(response: Any) -> Any:
    return json.loads(response.content, parse_float=Decimal, parse_int=Decimal)


def test_kzt_to_uzs_through_usd_is_exact_to_15_digits(client: TestClient) -> None:
    response = client.get("/convert", params={"from": "KZT", "to": "UZS", "amount": "1000", "at": "2026-01-02T06:00"})
    assert response.status_code == 200
    body = exact(response)
    fifteen = decimal.Context(prec=15)
    # (USD per tenge) / (USD per sum) = (1 / 512.34) / (1 / 12345.67) = 12345.67 / 512.34, one division.
    assert body["rate"] == fifteen.divide(Decimal("12345.67"), Decimal("512.34")) == Decimal("24.0966350470391")
    assert body["result"] == fifteen.divide(Decimal("12345670"), Decimal("512.34")) == Decimal("24096.6350470391")
    assert (body["from"], body["to"], body["amount"], body["at"]) == ("KZT", "UZS", 1000, "2026-01-02T06:00:00Z")
    assert body["sources"] == {
        "KZT": {
            "source": "erapi",
            "rate": Decimal("512.34"),  # each leg per one USD, as published
            "since": "2026-01-02T00:00:00Z",
            "last_seen": "2026-01-02T06:00:00Z",  # no poll is logged for these spans: the instant itself
            "stale": False,
        },
        "UZS": {
            "source": "cbu",
            "rate": Decimal("12345.67"),
            "since": "2026-01-02T00:00:00Z",
            "last_seen": "2026-01-02T06:00:00Z",  # no poll is logged for these spans: the instant itself
            "stale": False,
        },
    }


def test_the_value_known_at_the_time_is_used(client: TestClient) -> None:
    body = client.get("/convert", params={"from": "kzt", "to": "uzs", "amount": "2", "at": "2026-01-01T02:00"}).json()
    assert (body["rate"], body["result"]) == (50, 100)  # 12500 / 250 (S3)
    # S3 lapsed at 03:40 (last seen 03:10, gap 30 minutes): at 04:00 no tenge rate is in force, as /rates/at says
    gap = client.get("/convert", params={"from": "KZT", "to": "UZS", "amount": "1", "at": "2026-01-01T04:00"})
    assert gap.status_code == 404
    assert detail_of(gap, "no-data") == (
        "no KZT rate from erapi in force at 2026-01-01T04:00:00Z; its last value was seen at 2026-01-01T03:10:00Z"
    )
    held = client.get("/convert", params={"from": "KZT", "to": "UZS", "amount": "1", "at": "2026-01-01T03:40"}).json()
    assert (held["rate"], held["sources"]["KZT"]["stale"]) == (50, True)  # the last instant S3 holds: stale


def test_usd_on_either_side(client: TestClient) -> None:
    when = "2026-01-01T00:30"
    to_som = exact(client.get("/convert", params={"from": "USD", "to": "KGS", "amount": "1", "at": when}))
    assert (to_som["rate"], to_som["result"]) == (Decimal("87.4125874125874"), Decimal("87.4125874125874"))
    assert list(to_som["sources"]) == ["KGS"]
    to_usd = exact(client.get("/convert", params={"from": "KGS", "to": "USD", "amount": "100", "at": when}))
    assert (to_usd["rate"], to_usd["result"]) == (Decimal("0.01144"), Decimal("1.144"))
    big = exact(client.get("/convert", params={"from": "USD", "to": "UZS", "amount": "1e15", "at": when}))
    assert big["amount"] == Decimal("1000000000000000") and big["result"] == Decimal("12500000000000000000")
    assert (
        b'"result":12500000000000000000,'
        in client.get("/convert", params={"from": "USD", "to": "UZS", "amount": "1e15", "at": when}).content
    )
    same = client.get("/convert", params={"from": "USD", "to": "usd", "amount": "5"}).json()
    assert (same["rate"], same["result"], same["sources"]) == (1, 5, {})


def test_no_rate_in_force_at_the_time_is_a_404(client: TestClient) -> None:
    response = client.get("/convert", params={"from": "KZT", "to": "UZS", "amount": "1", "at": "2025-01-01"})
    assert response.status_code == 404
    assert detail_of(response, "no-data") == (
        "no KZT rate from erapi in force at 2025-01-01T00:00:00Z; its first value is from 2025-12-30T12:00:00Z"
    )
    none = client.get("/convert", params={"from": "TJS", "to": "USD", "amount": "1"})
    assert none.status_code == 404 and detail_of(none, "no-data") == "no data for TJS yet"


def test_at_defaults_to_now(client: TestClient) -> None:
    body = client.get("/convert", params={"from": "KZT", "to": "USD", "amount": "1"}).json()
    assert body["rate"] == 0.00195182886364524 and body["sources"]["KZT"]["stale"] is True
    assert body["at"] > "2026-01-02T12:00:00Z"


def test_etag_and_304(client: TestClient) -> None:
    params = {"from": "KZT", "to": "UZS", "amount": "1000", "at": "2026-01-02T06:00"}
    first = client.get("/convert", params=params)
    assert first.headers["cache-control"].startswith("public, max-age=")
    again = client.get("/convert", params=params, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


SAMPLES = ["1000", "12.5", ".5", "5.", "1e6", "1E+3", "2.5e-3", "1_000", "١٠٠", "1e1234", "-5", "+5", "1,000",
           "0x10", "abc", "1e", "", " 7 "]  # fmt: skip


def test_one_amount_grammar_for_the_parser_the_openapi_pattern_and_the_docs(client: TestClient) -> None:
    """The parser, the pattern both /convert and Frankfurter's `amount` declare, and docs/api.md agree on what an
    amount may look like."""
    spec = client.get("/openapi.json").json()
    patterns = {
        p["schema"]["pattern"].removeprefix("^$|")
        for path in ("/v1/convert", "/frankfurter/v1/latest")
        for p in spec["paths"][path]["get"]["parameters"]
        if p["name"] == "amount"
    }
    assert len(patterns) == 1
    (pattern,) = patterns
    for sample in SAMPLES:
        response = client.get("/convert", params={"from": "USD", "to": "KZT", "amount": sample})
        grammatical = re.fullmatch(pattern, sample.strip()) is not None  # the parser strips blanks around
        assert (response.status_code != 422) is grammatical, (sample, response.text)  # else 200, or 404: no rate
    docs = (Path(__file__).parent.parent / "docs" / "api.md").read_text()
    (row,) = [line for line in docs.splitlines() if line.startswith("| `amount` |")]
    for example in re.findall(r"`([^`]+)`", row.split("|")[2]):
        if example[0].isdigit():
            assert re.fullmatch(pattern, example), example
