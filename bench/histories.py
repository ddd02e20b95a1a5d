"""The histories steps: every currency's year at 1d in one `GET /rates/history`, on the big store (a year of
per-minute spans of all five currencies, bench/bigstore.py), in USD with UTC days and in KZT with Almaty days, each
beside its ceiling: a bare GROUP BY day over the same rollup rows (bench/ceiling.py), request by request. Every
ticker series of the store changes every minute, so no rollup row of one leg crosses whole with the other: a cross
reads the legs' spans, and is also set beside a GROUP BY day over those.

Every request's range is a day earlier than the one before: the answer cache keys a bucketed answer by its first and
last whole bucket, so only a range that moves by a whole bucket is computed anew. The ranges all lie within the
store, so the year is the store's year less a day per request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from bench import bigstore
from bench.ceiling import Bare
from bench.harness import Figure, Size, free_port, iso, log, postgres_schema, sampled, serve
from bench.stores import build_store, cached

CURRENCIES = list(bigstore.TICKER)
# The server's limit on a request's database work, raised to its maximum: a query far over its target is timed
# to the end rather than cut short at the default five seconds.
DB_TIMEOUT = 300


def _window(size: Size) -> Callable[[int], tuple[datetime, datetime]]:
    """The range of request i (0 is the warm-up): a fixed length, ending i steps (a day at full size) before the
    store's end, always within the store."""
    total = timedelta(minutes=size.store_minutes)
    planned = size.requests + 1
    step = timedelta(days=1) if total >= 2 * planned * timedelta(days=1) else total / (2 * planned)
    length = total - planned * step

    def window(i: int) -> tuple[datetime, datetime]:
        end = bigstore.END - step * i
        return end - length, end

    return window


def bench_histories(size: Size, label: str, store: Callable[[], tuple[str, str]]) -> list[Figure]:
    log(f"  the year's store of every currency ({label})")
    url, built = store()
    log(f"  {built}")
    window = _window(size)
    first, last = window(0)
    days = (last - first) / timedelta(days=1)
    port = free_port()
    spans = bigstore.spans_in(size.store_minutes)
    figures = [Figure(f"year store ({label}) for /rates/history", spans, "spans", built)]
    almaty = ZoneInfo("Asia/Almaty")
    # name, query, zone of the days, p95 target (ms), and whether the legs are crossed (another base than USD)
    cases = [("USD, UTC days", {}, UTC, 100, False),
             ("base=KZT&tz=Asia/Almaty", {"base": "KZT", "tz": "Asia/Almaty"}, almaty, 150, True)]  # fmt: skip
    # The store holds the five: served alone, so every answer is theirs (the default set adds RUB, EUR and CNY).
    serving = serve(url, port, FX_SOURCE_TICKER_INTERVAL="60", FX_SOURCE_TICKER_MAX_GAP="120",
                    FX_DB_TIMEOUT=str(DB_TIMEOUT), FX_CURRENCIES=",".join(bigstore.TICKER))  # fmt: skip
    with serving, Bare(url) as bare, httpx.Client(timeout=DB_TIMEOUT + 60) as client:
        for name, extra, zone, limit, crossed in cases:
            log(f"  five currencies' {days:.0f} days at 1d, {name}")
            app, timed_out, refused = _asker(client, f"http://127.0.0.1:{port}/rates/history", window, extra)

            def rows(i: int, zone: tzinfo = zone) -> None:
                bare.days(CURRENCIES, "ticker", *window(i), zone)

            def spans(i: int, zone: tzinfo = zone) -> None:
                bare.span_days(CURRENCIES, "ticker", *window(i), zone)

            began = time.perf_counter()
            latency, *floors = sampled([app, rows, spans] if crossed else [app, rows], size.requests, size.budget)
            log(f"    {latency.count} requests in {time.perf_counter() - began:.0f} s")
            what = f"/rates/history, five currencies' {days:.0f} days at 1d, {name} ({label})"
            note = latency.note(size.requests) + ("; cut at FX_DB_TIMEOUT, answered 503" if timed_out else "")
            note += f"; {len(refused)} refused with a 422: more to cross than one answer may" if refused else ""
            met = latency.p95 <= limit and not refused
            figures.append(Figure(f"{what} p95", latency.p95, "ms", f"≤ {limit} ({note})", met))
            for floor, read in zip(floors, ("the same rollup rows", "the legs' spans"), strict=False):
                figures += [
                    Figure(f"{what} p95, ceiling: bare SQL GROUP BY day over {read}", floor.p95, "ms"),
                    Figure(f"{what} p50 ÷ that ceiling", latency.p50 / floor.p50, "×", f"(its p50 {floor.p50:.1f} ms)"),
                ]
    return figures


def _asker(
    client: httpx.Client, url: str, window: Callable[[int], tuple[datetime, datetime]], extra: dict[str, str]
) -> tuple[Callable[[int], None], list[bool], list[bool]]:
    """Request i, checked (five series, about a point a day each); and whether any was cut at the database
    timeout (answered 503), or refused as too much to cross (422): timed as answered, and noted."""
    timed_out: list[bool] = []
    refused: list[bool] = []

    def ask(i: int) -> None:
        start, end = window(i)
        params = {"interval": "1d", "start": iso(start), "end": iso(end), "source": "ticker", **extra}
        response = client.get(url, params=params)
        if response.status_code == 503:
            timed_out.append(True)
            return
        if response.status_code == 422 and "crossed one by one" in response.text:
            refused.append(True)
            return
        response.raise_for_status()
        series = response.json()["series"]
        if len(series) != 5 or any(abs(len(s["points"]) - (end - start).days) > 2 for s in series):
            raise RuntimeError(f"unexpected answer for {params}: {[len(s['points']) for s in series]} points")

    return ask, timed_out, refused


def histories_sqlite(size: Size, work: Path) -> list[Figure]:
    year = size.store_minutes
    return bench_histories(size, "SQLite", lambda: cached(size, work, f"year-{year}m", lambda u: build_store(u, year)))


def histories_postgres(size: Size, work: Path) -> list[Figure]:
    with postgres_schema() as url:
        return bench_histories(size, "PostgreSQL", lambda: (url, build_store(url, size.store_minutes)))
