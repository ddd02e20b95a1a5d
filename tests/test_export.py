"""`/rates/export.csv`: the file's shape on both databases, and half a million spans in constant memory."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from app.core.jsonenc import iso
from app.domain.values import invert
from app.read.export import EXPORT_PAGE, CsvExport, csv_stream
from app.read.history import Pair
from app.read.series import SPANS, Series
from app.storage.engine import make_engine
from app.storage.migrate import upgrade
from tests.series import insert_spans, serve


@pytest.fixture
def client(engine: Engine, database_url: str) -> Iterator[TestClient]:
    with serve(engine, database_url) as client:
        yield client


def test_every_currency_in_configured_order(client: TestClient) -> None:
    response = client.get("/rates/export.csv", params={"start": "2026-01-01T01:00", "end": "2026-01-01T02:00"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="fx-rates_20260101T010000Z_20260101T020000Z.csv"'
    )
    assert response.text.splitlines() == [
        "timestamp,until,currency,pair,rate,inverse,source",
        "2026-01-01T01:00:00Z,2026-01-01T02:00:00Z,KGS,USD/KGS,86.9565217391304,0.01150,ticker",
        "2026-01-01T00:00:00Z,2026-01-01T01:20:00Z,KZT,USD/KZT,500,0.002,erapi",
        "2026-01-01T01:30:00Z,2026-01-01T01:40:00Z,KZT,USD/KZT,400,0.0025,erapi",
        "2026-01-01T01:45:00Z,2026-01-01T03:10:00Z,KZT,USD/KZT,250,0.004,erapi",
        "2025-12-30T00:00:00Z,2026-01-01T06:00:00Z,UZS,USD/UZS,12500,0.00008,cbu",
    ]
    assert response.content.endswith(b"\r\n")


def test_buckets_a_subset_and_a_source(client: TestClient) -> None:
    daily = client.get(
        "/rates/export.csv",
        params={"currencies": "uzs,kgs", "start": "2025-12-31", "end": "2026-01-01", "interval": "1d"},
    )
    assert daily.text.splitlines() == [
        "timestamp,currency,pair,rate,average,inverse,source",
        # 1/0.01144 som per dollar for 60 minutes, then 1/0.01150 for 75 (until 02:00 plus the 15 minutes it holds)
        "2026-01-01T00:00:00Z,KGS,USD/KGS,86.9565217391304,87.1592175940002,0.01150,ticker",
        "2025-12-31T00:00:00Z,UZS,USD/UZS,12500,12500,0.00008,cbu",
        "2026-01-01T00:00:00Z,UZS,USD/UZS,12500,12500,0.00008,cbu",
    ]
    assert daily.headers["content-disposition"] == 'attachment; filename="fx-rates_2025-12-31_2026-01-01.csv"'
    only = client.get("/rates/export.csv", params={"source": "cbu", "start": "2026-01-01", "end": "2026-01-02"})
    assert only.text.splitlines()[1:] == ["2025-12-30T00:00:00Z,2026-01-01T06:00:00Z,UZS,USD/UZS,12500,0.00008,cbu"]


def test_an_empty_range_is_just_the_header(client: TestClient) -> None:
    response = client.get("/rates/export.csv", params={"start": "2020-01-01", "end": "2020-02-01"})
    assert response.status_code == 200
    assert response.text == "timestamp,until,currency,pair,rate,inverse,source\r\n"


def test_weak_etag_and_304(client: TestClient) -> None:
    params = {"start": "2026-01-01", "end": "2026-01-02"}
    first = client.get("/rates/export.csv", params=params)
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and first.headers["cache-control"].startswith("public, max-age=")
    again = client.get("/rates/export.csv", params=params, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert client.get("/rates/export.csv", params={**params, "interval": "1h"}).headers["etag"] != etag


def test_microseconds_are_kept(engine: Engine, database_url: str) -> None:
    first = datetime(2026, 1, 1, 0, 0, 0, 250_000, tzinfo=UTC)
    rows = [
        {
            "currency": "KGS",
            "source": "ticker",
            "value": "0.01144",
            "per_usd": False,
            "first_seen": first,
            "last_seen": first + timedelta(seconds=5, microseconds=1),
            "observations": 2,
        }
    ]
    with serve(engine, database_url, rows) as client:
        text = client.get("/rates/export.csv", params={"start": "2026-01-01", "end": "2026-01-02"}).text
        json_since = client.get("/rates/KGS/history", params={"start": "2026-01-01", "end": "2026-01-02"}).json()
    assert text.splitlines()[1].startswith("2026-01-01T00:00:00.250000Z,2026-01-01T00:00:05.250001Z,")
    assert json_since["points"][0]["since"] == "2026-01-01T00:00:00.250000Z"


# --- half a million spans --------------------------------------------------------------------------------------

BIG = 500_000
START = datetime(2025, 1, 1, tzinfo=UTC)


def _big_row(i: int) -> dict[str, Any]:
    """Half KGS from the ticker (USD per som), half KZT from nbk (tenge per USD); some times with microseconds."""
    kgs = i < BIG // 2
    n = i if kgs else i - BIG // 2
    first = START + timedelta(minutes=n)
    return {
        "currency": "KGS" if kgs else "KZT",
        "source": "ticker" if kgs else "nbk",
        "value": f"0.0{11000 + n % 4999}" if kgs else f"{470 + n % 3001 / 100:.2f}",
        "per_usd": not kgs,
        "first_seen": first,
        "last_seen": first + timedelta(seconds=50, microseconds=n % 3 * 125_000),
        "observations": 1,
    }


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def _reset_peak_rss() -> int | None:
    """The resident size now, with the kernel's high-water mark reset to it (Linux); None elsewhere."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status("VmRSS")
    except (OSError, LookupError):
        return None


def _peak_rss() -> int:
    return _status("VmHWM")


@pytest.mark.slow
def test_half_a_million_spans_stream_in_constant_memory(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'big.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        for at in range(0, BIG, 50_000):
            conn.execute(insert(SPANS), [_big_row(i) for i in range(at, at + 50_000)])
    hold = timedelta(minutes=15)
    series = [
        Pair(code, Series(code, source, hold), "USD", None) for code, source in (("KGS", "ticker"), ("KZT", "nbk"))
    ]
    end = START + timedelta(days=400)

    rss_before = _reset_peak_rss()
    started = time.perf_counter()
    size = sum(len(chunk) for chunk in csv_stream(engine, series, START, end, None))
    seconds = time.perf_counter() - started
    rss_growth = _peak_rss() - rss_before if rss_before is not None else None

    out = tmp_path / "export.csv"
    tracemalloc.start()
    try:
        with out.open("wb") as file:
            for chunk in csv_stream(engine, series, START, end, None):
                file.write(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    engine.dispose()
    print(
        f"\nexport of {BIG:,} spans: {size / 1e6:.1f} MB in {seconds:.2f} s = {BIG / seconds:,.0f} rows/s; "
        f"peak traced memory while streaming {peak / 1e6:.1f} MB"
    )
    assert peak < 100e6
    if rss_growth is not None:  # what the process asked of the system, SQLite's own memory included
        print(f"peak resident memory growth while streaming: {rss_growth / 1e6:.1f} MB")
        assert rss_growth < 100e6
    assert out.stat().st_size == size

    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["timestamp", "until", "currency", "pair", "rate", "inverse", "source"]
    assert len(frame) == BIG
    expected = [_big_row(i) for i in range(BIG)]
    derived: dict[str, str] = {}

    def other(value: str) -> str:
        if value not in derived:
            derived[value] = str(invert(Decimal(value)))
        return derived[value]

    assert frame["timestamp"].tolist() == [iso(r["first_seen"]) for r in expected]
    assert frame["until"].tolist() == [iso(r["last_seen"]) for r in expected]
    assert frame["currency"].tolist() == [r["currency"] for r in expected]
    assert frame["pair"].tolist() == ["USD/" + r["currency"] for r in expected]
    assert frame["source"].tolist() == [r["source"] for r in expected]
    assert frame["rate"].tolist() == [r["value"] if r["per_usd"] else other(r["value"]) for r in expected]
    assert frame["inverse"].tolist() == [other(r["value"]) if r["per_usd"] else r["value"] for r in expected]
    assert frame["inverse"].iloc[0] == "0.011000"  # every digit as stored, trailing zeros too


def test_pages_follow_each_other_exactly_and_hold_no_connection_between_them(engine: Engine) -> None:
    """Each page starts right after the last row sent (microseconds included), on a connection given back to the
    pool before the page is returned: between pages, a slow client holds nothing of the database."""
    count = 2 * EXPORT_PAGE + 3
    rows: list[dict[str, Any]] = [
        {
            "currency": "KGS",
            "source": "ticker",
            "value": f"0.0{11000 + i % 997}",
            "per_usd": False,
            "first_seen": (first := START + timedelta(minutes=i, microseconds=i % 3 * 125_000)),
            "last_seen": first + timedelta(seconds=30),
            "observations": 1,
        }
        for i in range(count)
    ]
    insert_spans(engine, rows)
    kgs = Pair("KGS", Series("KGS", "ticker", timedelta(minutes=15)), "USD", None)
    export = CsvExport(engine, [kgs], START, START + timedelta(days=9), None)
    steps = []
    while chunks := export.step():
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        steps.append(chunks)
    assert len(steps) == 3 and export.done  # two whole pages, then the rest; the header comes with the first
    lines = b"".join(chunk for step in steps for chunk in step).decode().split("\r\n")
    assert lines[0] == "timestamp,until,currency,pair,rate,inverse,source" and lines[-1] == ""
    assert lines[1:-1] == [
        f"{iso(r['first_seen'])},{iso(r['last_seen'])},KGS,USD/KGS,{invert(Decimal(r['value']))},{r['value']},ticker"
        for r in rows
    ]
