"""The scale steps: a poll, /sources and a snapshot rebuild on a store of a year of history (ingest on ten years),
each figure paired with the same on a store of one day, measured in the same run.

Each figure on the big store is paired with the same figure on a store holding one day of the same history
(the same series and sources, so only the amount of history differs), measured in the same run and interleaved
(round by round, in alternating order) so that the machine's varying speed affects both alike.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

from app.core.settings import Settings
from app.ingest.pipeline import process
from app.read.latest import LatestService
from app.sources import ticker
from app.sources.registry import load_settings
from app.storage.engine import make_engine
from bench import bigstore
from bench.harness import SEED, Figure, Size, changed, free_port, log, postgres_schema, serve
from bench.stores import DAY, build_store, cached, extend_store


@dataclass
class Store:
    label: str
    url: str
    engine: Engine
    settings: Settings
    clock: datetime
    polls: int = 0

    def poll(self, bodies: list[bytes]) -> None:
        """The next poll, a minute after the last, of the next of `bodies` in turn."""
        body = bodies[self.polls % len(bodies)]
        self.polls += 1
        self.clock += timedelta(minutes=1)
        outcome = process(self.engine, self.settings, ticker.SPEC, body, observed_at=self.clock, started_at=self.clock)
        assert outcome.ok, outcome.summary()


def _store(label: str, database_url: str) -> Store:
    engine = make_engine(database_url)
    settings = load_settings(database_url=database_url, sources="ticker")
    # Polls begin an hour after the history ends: each store's first poll opens a span of each currency.
    return Store(label, database_url, engine, settings, bigstore.END + timedelta(hours=1))


def _interleaved(size: Size, stores: list[Store], bodies: list[bytes]) -> dict[str, float]:
    """Median seconds per poll of each store: rounds of `round_polls` polls on each store in turn (the order
    reversed every other round), cycling through `bodies`."""
    per_poll: dict[str, list[float]] = {s.label: [] for s in stores}
    for n in range(size.rounds):
        for store in stores if n % 2 == 0 else stores[::-1]:
            began = time.perf_counter()
            for _ in range(size.round_polls):
                store.poll(bodies)
            per_poll[store.label].append((time.perf_counter() - began) / size.round_polls)
    return {label: statistics.median(times) for label, times in per_poll.items()}


def _rebuild(store: Store, builds: int) -> tuple[int, float]:
    """Statements one snapshot rebuild runs, and the median ms of `builds` rebuilds."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    settings = load_settings(database_url=store.url)  # every source enabled: 40 series
    service = LatestService(store.engine, settings)
    event.listen(store.engine, "before_cursor_execute", count)
    service.build()
    event.remove(store.engine, "before_cursor_execute", count)
    times = []
    for _ in range(builds):
        began = time.perf_counter()
        service.build()
        times.append((time.perf_counter() - began) * 1000)
    return len(statements), statistics.median(times)


def _sources_latency(day: Store, big: Store, requests: int) -> dict[str, tuple[float, float]]:
    """p50 and p95 ms of GET /sources from a server over each store, requests alternating between them."""
    samples: dict[str, list[float]] = {day.label: [], big.label: []}
    with serve(day.url, (p1 := free_port())), serve(big.url, (p2 := free_port())), httpx.Client() as client:
        urls = {day.label: f"http://127.0.0.1:{p1}/sources", big.label: f"http://127.0.0.1:{p2}/sources"}
        for url in urls.values():
            for _ in range(3):
                client.get(url).raise_for_status()  # warm up
        for _ in range(requests):
            for label, url in urls.items():
                began = time.perf_counter()
                client.get(url).raise_for_status()
                samples[label].append((time.perf_counter() - began) * 1000)
    result = {}
    for label, times in samples.items():
        times.sort()
        result[label] = (statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))])
    return result


def _ratio(what: str, big: float, day: float, unit: str, store: str = "year", limit: float = 1.5) -> list[Figure]:
    ratio = big / day
    return [
        Figure(f"{what}, one-day store (ceiling)", day, unit),
        Figure(f"{what}, {store} store ÷ one-day", ratio, "×", f"≤ {limit} ({big:.2f} {unit})", ratio <= limit),
    ]


@dataclass
class Sizes:
    """Where the stores of a scale run live: the one-day store, and how to get the big one and then the one ten
    times bigger (each returns its URL and how it was built)."""

    label: str
    day_url: str
    year: Callable[[], tuple[str, str]]
    decade: Callable[[], tuple[str, str]]


def bench_scale(size: Size, stores: Sizes) -> list[Figure]:
    """A poll, GET /sources and a snapshot rebuild on a store holding `store_minutes` of history for every
    currency, and ingest on one holding ten times as much, each against a store of one day."""
    year, label = size.store_minutes, stores.label
    log(f"  building a store of one day and one of {year:,} minutes of history for every currency ({label})")
    build_store(stores.day_url, DAY)
    big_url, built = stores.year()
    log(f"  {built}")
    day, big = _store("day", stores.day_url), _store("big", big_url)
    figures = [Figure(f"year store ({label}): spans of five currencies", bigstore.spans_in(year), "spans", built)]
    body = SEED.read_bytes()
    log("  polls, same values (extend)")
    same = _interleaved(size, [day, big], [body])
    figures += _ratio(f"poll of the seed page, same values ({label})", same["big"] * 1000, same["day"] * 1000, "ms")
    log("  polls, new values (open, flag, refresh the rollup)")
    new = _interleaved(size, [day, big], [changed(body), body])
    figures += _ratio(f"poll of the seed page, new values ({label})", new["big"] * 1000, new["day"] * 1000, "ms")
    log("  snapshot rebuilds")
    builds = max(5, size.rounds * 2)
    (day_statements, day_ms), (big_statements, big_ms) = _rebuild(day, builds), _rebuild(big, builds)
    constant = big_statements <= 4 and big_statements == day_statements
    what = f"snapshot rebuild statements ({label}), year store"
    figures.append(Figure(what, big_statements, "statements", f"≤ 4, = one-day store ({day_statements})", constant))
    figures += _ratio(f"snapshot rebuild ({label})", big_ms, day_ms, "ms")
    log("  GET /sources")
    latency = _sources_latency(day, big, size.requests * 5)
    (d50, d95), (b50, b95) = latency["day"], latency["big"]
    figures.append(Figure(f"GET /sources ({label}) p95, one-day store (ceiling)", d95, "ms", f"(p50 {d50:.2f})"))
    figures.append(Figure(f"GET /sources ({label}) p95, year store", b95, "ms", f"< 20 (p50 {b50:.2f})", b95 < 20))
    figures.append(
        Figure(f"GET /sources ({label}) p50, year store ÷ one-day", b50 / d50, "×", "≤ 1.5", b50 / d50 <= 1.5)
    )
    big.engine.dispose()
    log(f"  ten times the history ({label})")
    decade_url, extended = stores.decade()
    log(f"  {extended}")
    decade = _store("big", decade_url)
    spans = bigstore.spans_in(10 * year)
    figures.append(Figure(f"ten-year store ({label}): spans of five currencies", spans, "spans", extended))
    log("  ingest, ten times the history")
    ingest = _interleaved(size, [day, decade], [body])
    what = f"ingest of the seed page ({label})"
    figures += _ratio(what, ingest["big"] * 1000, ingest["day"] * 1000, "ms per poll", "ten-year")
    for store in (day, decade):
        store.engine.dispose()
    return figures


def scale_sqlite(size: Size, work: Path) -> list[Figure]:
    year = size.store_minutes

    def year_store() -> tuple[str, str]:
        return cached(size, work, f"year-{year}m", lambda url: build_store(url, year))

    def decade_from_year(url: str) -> str:
        year_url, _ = year_store()  # a fresh copy, not the one the polls changed
        shutil.move(str(make_url(year_url).database), str(make_url(url).database))
        return extend_store(url, year, 10)

    def decade_store() -> tuple[str, str]:
        (work / f"year-{year}m.db").unlink()  # the disk holds one big store at a time
        return cached(size, work, f"decade-{year}m", decade_from_year)

    return bench_scale(size, Sizes("SQLite", f"sqlite:///{work / 'day.db'}", year_store, decade_store))


def scale_postgres(size: Size, work: Path) -> list[Figure]:
    year = size.store_minutes
    with postgres_schema() as day_url, postgres_schema() as url:
        # Ten times the history is the year's store with nine older years loaded around it.
        stores = Sizes(
            "PostgreSQL", day_url, lambda: (url, build_store(url, year)), lambda: (url, extend_store(url, year, 10))
        )
        return bench_scale(size, stores)
