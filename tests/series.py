"""A hand-built series of spans with known answers, shared by the query API tests.

KZT from `erapi` (served: these settings declare a plan whose terms allow it, FX_ERAPI_PLAN=licensed; its
spans carry no announced next update, so each holds its allowed gap after its last sighting and the gaps show;
tenge per USD, so rate = value and inverse = 1 / value; the values are chosen so that every inverse is exact),
allowed gap 30 minutes:

    S0  625  2025-12-30 12:00 -> 2025-12-31 23:50   inverse 0.0016
    S1  500  2026-01-01 00:00 -> 01:20               inverse 0.002    (begins exactly at a bucket start)
    S2  400  2026-01-01 01:30 -> 01:40               inverse 0.0025
    S3  250  2026-01-01 01:45 -> 03:10               inverse 0.004    (in force until 03:40)
    --- nothing in force from 03:40 to 05:15 ---
    S4  800  2026-01-01 05:15 -> 06:00               inverse 0.00125  (in force until 06:30)

KGS from `ticker` (USD per som, published directly: the inverse; rate is som per USD, derived), gap 15 minutes:
0.01144 from 00:00 to 00:50, then 0.01150 from 01:00 to 02:00 (2026-01-01). UZS from `cbu`: 12500 per USD from
2025-12-30 00:00 to 2026-01-01 06:00.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, insert, update
from sqlmodel import Session

from app.api.app import create_app
from app.core.settings import Settings
from app.ingest import pairs, rollup
from app.storage.models import DataVersion, RateSpan
from tests.support import at, make_settings

GAP_OVERRIDES = {
    "source_erapi_interval": 600,
    "source_erapi_max_gap": 1800,
    "source_cbu_interval": 600,
    "erapi_plan": "licensed",
}

KZT = [
    ("625", "2025-12-30T12:00", "2025-12-31T23:50"),
    ("500", "2026-01-01T00:00", "2026-01-01T01:20"),
    ("400", "2026-01-01T01:30", "2026-01-01T01:40"),
    ("250", "2026-01-01T01:45", "2026-01-01T03:10"),
    ("800", "2026-01-01T05:15", "2026-01-01T06:00"),
]
KGS = [("0.01144", "2026-01-01T00:00", "2026-01-01T00:50"), ("0.01150", "2026-01-01T01:00", "2026-01-01T02:00")]
UZS = [("12500", "2025-12-30T00:00", "2026-01-01T06:00")]


def span(
    currency: str, source: str, value: str, per_usd: bool, first: datetime, last: datetime, **extra: Any
) -> dict[str, Any]:
    return {
        "currency": currency,
        "source": source,
        "value": value,
        "per_usd": per_usd,
        "first_seen": first,
        "last_seen": last,
        "observations": extra.get("observations", 1),
        "effective_date": extra.get("effective_date"),
        "reported_change_pct": None,
    }


def insert_spans(engine: Engine, rows: list[dict[str, Any]], replace: bool = False) -> None:
    """Insert spans directly (`replace`: instead of every span stored), recompute the rollups and bump the change
    counter, as the store does."""
    with Session(engine) as session:
        if replace:
            session.connection().execute(delete(RateSpan.__table__))  # type: ignore[attr-defined]
        if rows:
            session.connection().execute(insert(RateSpan.__table__), rows)  # type: ignore[attr-defined]
        if rows or replace:
            rollup.rebuild(session.connection())
            pairs.rebuild(session.connection())
        session.connection().execute(update(DataVersion.__table__).values(version=DataVersion.version + 1))  # type: ignore[attr-defined]
        session.commit()


def series_rows() -> list[dict[str, Any]]:
    rows = [
        span("KZT", "erapi", value, True, at(first), at(last), observations=index + 2, effective_date=at(first).date())
        for index, (value, first, last) in enumerate(KZT)
    ]
    rows += [span("KGS", "ticker", value, False, at(first), at(last)) for value, first, last in KGS]
    rows += [span("UZS", "cbu", value, True, at(first), at(last)) for value, first, last in UZS]
    return rows


def query_settings(database_url: str, **overrides: Any) -> Settings:
    return make_settings(database_url, role="api", **(GAP_OVERRIDES | overrides))


@contextmanager
def serve(engine: Engine, database_url: str, rows: list[dict[str, Any]] | None = None) -> Iterator[TestClient]:
    """An API process over the hand-built series (or `rows`)."""
    insert_spans(engine, series_rows() if rows is None else rows)
    with TestClient(create_app(query_settings(database_url))) as client:
        yield client


def day(text: str) -> date:
    return date.fromisoformat(text)
