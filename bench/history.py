"""The history steps: a year of per-minute spans of one currency (every minute a new value: nothing collapses);
the year at 1d, the last month at 1h and the last day raw, each computed (its range a bucket earlier every request,
so that no answer cache serves it) beside its ceiling, and repeated; then the CSV export of the whole year beside
csv.writer over the same rows (bench/ceiling.py)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert, text
from sqlmodel import Session

from app.ingest.store import bump_version, rebuild_rollup
from app.storage.engine import make_engine
from app.storage.migrate import upgrade
from app.storage.models import RateSpan
from bench.ceiling import Bare
from bench.harness import Figure, Size, free_port, iso, log, rss_kb, sampled, serve

DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def year_rows(count: int, end: datetime) -> Iterator[dict[str, object]]:
    """Every minute a new value: the worst case for the collapse (nothing collapses)."""
    start = end - timedelta(minutes=count)
    for i in range(count):
        seen = start + timedelta(minutes=i)
        value = f"0.00{200000 + (i * 7919) % 100003:06d}"
        yield {"currency": "KZT", "source": "ticker", "value": value, "per_usd": False, "first_seen": seen,
               "last_seen": seen, "observations": 1, "effective_date": None, "reported_change_pct": None}  # fmt: skip


def fill(database_url: str, count: int, end: datetime) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    rows = year_rows(count, end)
    if engine.dialect.name == "postgresql":
        # COPY: the bulk path PostgreSQL is built for (executemany would take minutes for half a million rows).
        columns = ["currency", "source", "value", "per_usd", "first_seen", "last_seen", "observations"]
        with engine.begin() as conn:
            raw = conn.connection.dbapi_connection
            with raw.cursor() as cursor, cursor.copy(f"COPY rate_span ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row([row[c] for c in columns])
    else:
        with engine.begin() as conn:
            batch: list[dict[str, object]] = []
            for row in rows:
                batch.append(row)
                if len(batch) == 20_000:
                    conn.execute(insert(RateSpan), batch)
                    batch = []
            if batch:
                conn.execute(insert(RateSpan), batch)
    rebuild_rollup(engine)  # the bulk insert went around the store, which keeps the rollup current
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE rate_span"))
        else:
            conn.execute(text("ANALYZE"))
    with Session(engine) as session:
        bump_version(session)
        session.commit()
    engine.dispose()


def export(url: str, params: dict[str, str], pid: int) -> tuple[int, float, float]:
    """Rows, rows/s and the server's peak memory growth (MB) while streaming the CSV."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before = rss_kb(pid)
    rows = 0
    began = time.perf_counter()
    with httpx.stream("GET", url, params=params, timeout=600) as response:
        response.raise_for_status()
        for _ in response.iter_lines():
            rows += 1
    elapsed = time.perf_counter() - began
    growth = (rss_kb(pid, "VmHWM") - before) / 1024
    return rows - 1, (rows - 1) / elapsed, growth


def bench_history(size: Size, database_url: str, label: str) -> list[Figure]:
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    log(f"  filling {size.spans:,} per-minute spans ({label})")
    began = time.perf_counter()
    fill(database_url, size.spans, end)
    log(f"  filled in {time.perf_counter() - began:.1f} s")
    start = end - timedelta(minutes=size.spans)
    port = free_port()
    figures = []
    serving = serve(database_url, port, FX_SOURCE_TICKER_INTERVAL="60", FX_SOURCE_TICKER_MAX_GAP="120")
    with serving as server, Bare(database_url) as bare, httpx.Client(timeout=120) as client:
        base = f"http://127.0.0.1:{port}"
        history = f"{base}/rates/KZT/history"
        # The year is measured over its last eleven twelfths, so that shifting it back a day per request stays
        # within the data.
        lead = (end - start) / 12
        # name: (start, interval, the shift per request, p95 target in ms, the ceiling, what the ceiling reads)
        queries: dict[str, tuple[datetime, str, timedelta, int, Callable[[datetime, datetime], int], str]] = {
            "year at 1d": (start + lead, "1d", DAY, 100, lambda s, e: bare.days(["KZT"], "ticker", s, e, UTC),
                           "GROUP BY day over the rollup rows"),
            "month at 1h": (end - 30 * DAY, "1h", HOUR, 50, lambda s, e: bare.hours("KZT", "ticker", s, e),
                            "the rollup rows"),
            "day raw": (end - DAY, "raw", HOUR, 50, lambda s, e: bare.spans("KZT", "ticker", s, e), "the spans"),
        }  # fmt: skip
        for name, (first, interval, step, limit, ceiling, what) in queries.items():

            def ask(i: int, first: datetime = first, interval: str = interval, step: timedelta = step) -> None:
                window = {"start": iso(first - step * i), "end": iso(end - step * i)}
                client.get(history, params={**window, "interval": interval, "source": "ticker"}).raise_for_status()

            def floor(i: int, first: datetime = first, step: timedelta = step, ceiling: Callable[..., int] = ceiling):
                ceiling(first - step * i, end - step * i)

            computed, bare_sql = sampled([ask, floor], size.requests, size.budget)
            what_ = f"history {name} ({label})"
            target = f"≤ {limit} ({computed.note(size.requests)})"
            figures += [
                Figure(f"{what_} p95, computed", computed.p95, "ms", target, computed.p95 <= limit),
                Figure(f"{what_} p95, ceiling: bare SQL, {what}", bare_sql.p95, "ms", f"(p50 {bare_sql.p50:.1f})"),
                Figure(f"{what_} p50, computed ÷ ceiling", computed.p50 / bare_sql.p50, "×"),
            ]
            (repeated,) = sampled([lambda _, ask=ask: ask(0)], size.requests, size.budget)
            figures.append(Figure(f"{what_} p95, repeated", repeated.p95, "ms", f"(p50 {repeated.p50:.1f})"))
        ceiling_rows, ceiling_rate = bare.csv("KZT", "ticker", start, end)
        params = {"currencies": "KZT", "start": iso(start), "end": iso(end), "interval": "raw", "source": "ticker"}
        rows, rate, growth = export(f"{base}/rates/export.csv", params, server.pid)
        if rows != size.spans or ceiling_rows != size.spans:
            raise RuntimeError(f"export gave {rows} rows and its ceiling {ceiling_rows}, expected {size.spans}")
        what_ = f"CSV export of {rows:,} rows ({label})"
        figures += [
            Figure(what_, rate, "rows/s", "≥ 250,000", rate >= 250_000),
            Figure(f"{what_}, ceiling: csv.writer over a bare cursor", ceiling_rate, "rows/s"),
            Figure(f"{what_} ÷ ceiling", rate / ceiling_rate, "×"),
            Figure(f"CSV export peak memory growth ({label})", growth, "MB", "≤ 100", growth <= 100),
        ]
    return figures
