"""docs/api.md's examples of the rate at an instant are real answers: of the hand-built 1 April below.

NBK (UTC+5) publishes KZT for 1 April at 03:05 UTC and for 2 April at 19:05 UTC on 1 April, and is polled at :05
and :35; the CBU at :10 and :40; the ticker every 15 minutes, with nothing from 19:45 to 23:00.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from app.storage.models import PollLog
from tests.series import day, serve, span
from tests.support import at

API_PAGE = Path(__file__).parent.parent / "docs" / "api.md"


def _fixing(currency: str, source: str, value: str, first: str, last: str) -> dict[str, Any]:
    return span(currency, source, value, True, at(first), at(last), effective_date=day(first[:10]))


ROWS = [
    _fixing("KZT", "nbk", "478.77", "2026-04-01T03:05", "2026-04-01T18:35"),
    {**_fixing("KZT", "nbk", "475.09", "2026-04-01T19:05", "2026-04-02T09:35"), "effective_date": day("2026-04-02")},
    _fixing("UZS", "cbu", "12194.21", "2026-04-01T03:10", "2026-04-01T18:40"),
    span("KGS", "ticker", "0.01145", False, at("2026-04-01T00:00"), at("2026-04-01T11:45")),
    span("KGS", "ticker", "0.01144", False, at("2026-04-01T12:00"), at("2026-04-01T19:45")),
    span("KGS", "ticker", "0.01144", False, at("2026-04-01T23:00"), at("2026-04-02T10:00")),
]
# (source, first poll, last poll, minutes between polls)
POLLS = [
    ("nbk", "2026-04-01T03:05", "2026-04-02T09:35", 30),
    ("cbu", "2026-04-01T03:10", "2026-04-01T18:40", 30),
    ("ticker", "2026-04-01T00:00", "2026-04-01T19:45", 15),
    ("ticker", "2026-04-01T23:00", "2026-04-02T10:00", 15),
]

EXAMPLES = [
    "/rates/at/2026-04-01T12:00?currencies=KZT,UZS",
    "/rates/at/2026-04-01T12:00?currencies=KGS&base=KZT",
    "/rates/at/2026-04-01T19:30?currencies=KZT",
    "/convert?from=USD&to=KGS&amount=250&at=2026-04-01T06:10",
    "/rates/KGS/change?start=2026-04-01T06:00&end=2026-04-02T06:00",
    "/rates/KGS/change?start=2026-04-01T18:00&end=2026-04-01T22:00",
]


def _poll_rows() -> list[dict[str, Any]]:
    rows = []
    for source, first, last, minutes in POLLS:
        moment: datetime = at(first)
        while moment <= at(last):
            rows.append({"source": source, "started_at": moment, "finished_at": moment + timedelta(seconds=2),
                         "outcome": "ok", "poller": "docs:1", "entries_seen": 1})  # fmt: skip
            moment += timedelta(minutes=minutes)
    return rows


@pytest.fixture
def april(engine: Engine, database_url: str) -> Iterator[TestClient]:
    with engine.begin() as conn:
        conn.execute(insert(PollLog.__table__), _poll_rows())  # type: ignore[attr-defined]
    with serve(engine, database_url, ROWS) as client:
        yield client


def documented(path: str) -> Any:
    """The JSON block that follows `curl -s 'http://127.0.0.1:8000<path>'` on the API page."""
    text = API_PAGE.read_text()
    pattern = re.escape(f"curl -s 'http://127.0.0.1:8000{path}'") + r"\n```\n```json\n(.*?)\n```"
    found = re.search(pattern, text, flags=re.DOTALL)
    assert found is not None, f"docs/api.md shows no answer of {path}"
    return json.loads(found.group(1), parse_float=Decimal, parse_int=Decimal)


@pytest.mark.parametrize("path", EXAMPLES)
def test_the_documented_answer_is_the_real_one(april: TestClient, path: str) -> None:
    response = april.get(path)
    assert response.status_code == 200, response.text
    assert json.loads(response.content, parse_float=Decimal, parse_int=Decimal) == documented(path)
