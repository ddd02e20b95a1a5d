"""`make bench` / `make bench-smoke`: the speed targets, measured side by side and recorded.

Each figure is either a ratio measured in one run against a baseline on the same machine (the hot path
against a raw ASGI app under the same load generator) or an absolute figure with a wide margin, because
absolute times on a shared two-core machine are noisy. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, insert, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.settings import Settings  # noqa: E402
from app.ingest import rollup  # noqa: E402
from app.ingest.pipeline import process  # noqa: E402
from app.ingest.store import bump_version, rebuild_rollup  # noqa: E402
from app.read.latest import LatestService  # noqa: E402
from app.sources import ticker  # noqa: E402
from app.sources.registry import load_settings  # noqa: E402
from app.storage.engine import WRITE_OPTIONS, make_engine  # noqa: E402
from app.storage.migrate import head_revision, upgrade  # noqa: E402
from app.storage.models import RateSpan  # noqa: E402
from bench import bigstore  # noqa: E402

SEED = ROOT / "tests" / "fixtures" / "ticker-page-2026-02-23.txt"
POSTGRES_URL = os.environ.get("FX_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MINUTES_IN_YEAR = 525_600


@dataclass
class Figure:
    what: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None

    def row(self) -> str:
        verdict = {True: "met", False: "**missed**", None: ""}[self.ok]
        shown = f"{self.value:,.0f}" if self.value >= 100 else f"{self.value:.2f}"
        return f"| {self.what} | {shown} {self.unit} | {self.target} | {verdict} |"


@dataclass
class Size:
    seconds: int  # wrk duration per measurement
    spans: int  # per-minute spans of the history/export data set
    requests: int  # timed requests per history query
    polls: int  # simulated ingest polls
    store_minutes: int  # minutes of history of the big store (for every currency; ten times that for ingest)
    rounds: int  # rounds of polls, each on the one-day store then the big one (or the other way round)
    round_polls: int  # polls per store per round
    cache: bool  # keep the generated SQLite stores under var/bench/ for the next run


FULL = Size(seconds=15, spans=MINUTES_IN_YEAR, requests=40, polls=1440, store_minutes=MINUTES_IN_YEAR, rounds=12,
            round_polls=25, cache=True)  # fmt: skip
SMOKE = Size(seconds=1, spans=3_000, requests=3, polls=20, store_minutes=2_000, rounds=2, round_polls=3, cache=False)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, once it answers on `port`; stopped (SIGTERM) afterwards."""
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    assert process.stderr is not None
                    raise RuntimeError(f"{command} did not start: {process.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()


def serve(database_url: str, port: int, **extra: str) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FX_")}
    env.update(
        FX_DATABASE_URL=database_url,
        FX_ROLE="api",
        FX_SOURCES="ticker",
        FX_LOG_LEVEL="warning",
        **extra,
    )
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "1"]
    return running(command, env, port)


# --- /rates/latest against the raw ASGI baseline --------------------------------------------------------


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float


def _ms(text_value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text_value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, seconds: int, headers: dict[str, str] | None = None) -> Load:
    """wrk with one thread (the server gets the other core) and 32 connections."""
    command = ["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in out:
        raise RuntimeError(f"errors under load:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    return Load(rps, p50, p99)


def bench_latest(size: Size, work: Path) -> list[Figure]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `apt-get install wrk` (Debian/Ubuntu) or `brew install wrk`")
    database_url = f"sqlite:///{work / 'latest.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    now = datetime.now(UTC)
    process(
        engine,
        load_settings(database_url=database_url),
        ticker.SPEC,
        SEED.read_bytes(),
        observed_at=now,
        started_at=now,
    )
    engine.dispose()
    app_port, raw_port = free_port(), free_port()
    with serve(database_url, app_port, FX_SOURCE_TICKER_MAX_GAP="86400"):
        url = f"http://127.0.0.1:{app_port}/rates/latest"
        answer = httpx.get(url)
        body_file = work / "latest.json"
        body_file.write_bytes(answer.content)
        raw_env = {**os.environ, "BENCH_BODY_FILE": str(body_file)}
        raw_cmd = [sys.executable, "-m", "uvicorn", "bench.raw_app:app", "--port", str(raw_port), "--lifespan", "off",
                   "--no-access-log", "--log-level", "warning"]  # fmt: skip
        with running(raw_cmd, raw_env, raw_port):
            raw_url = f"http://127.0.0.1:{raw_port}/"
            wrk(raw_url, 1), wrk(url, 1)  # warm up both
            raw = wrk(raw_url, size.seconds)
            latest = wrk(url, size.seconds)
            conditional = wrk(url, size.seconds, {"If-None-Match": answer.headers["etag"]})
    ratio, cond_ratio = latest.rps / raw.rps, conditional.rps / raw.rps
    return [
        Figure(
            "raw ASGI app, same bytes (baseline)", raw.rps, "req/s", f"p50 {raw.p50_ms:.2f} ms, p99 {raw.p99_ms:.2f} ms"
        ),
        Figure("/rates/latest", latest.rps, "req/s", f"p50 {latest.p50_ms:.2f} ms, p99 {latest.p99_ms:.2f} ms"),
        Figure("/rates/latest ÷ raw", ratio, "×", "≥ 0.5", ratio >= 0.5),
        Figure("/rates/latest p99 at 32 connections", latest.p99_ms, "ms", "≤ 10", latest.p99_ms <= 10),
        Figure("/rates/latest with matching If-None-Match (304)", conditional.rps, "req/s"),
        Figure("304 ÷ raw", cond_ratio, "×", "≥ 0.6", cond_ratio >= 0.6),
    ]


# --- a year of per-minute spans: history and export -------------------------------------------------------


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
    from sqlmodel import Session

    with Session(engine) as session:
        bump_version(session)
        session.commit()
    engine.dispose()


def timed(url: str, params: dict[str, str], n: int, step: timedelta | None) -> tuple[float, float]:
    """p50 and p95 in ms of n sequential requests (after one warm-up).

    With `step` (one bucket), every request's range is `step` earlier than the one before, so no answer
    cache can serve it and each is computed from the database; without, the same request repeats, as a
    dashboard's would.
    """
    start, end = (datetime.strptime(params[k], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) for k in ("start", "end"))
    with httpx.Client(timeout=120) as client:
        client.get(url, params=params).raise_for_status()
        samples = []
        for i in range(n):
            shift = step * (i + 1) if step else timedelta(0)
            query = {**params, "start": iso(start - shift), "end": iso(end - shift)}
            began = time.perf_counter()
            client.get(url, params=query).raise_for_status()
            samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def export(url: str, params: dict[str, str], pid: int) -> tuple[int, float, float]:
    """Rows, rows/s and the server's peak memory growth (MB) while streaming the CSV."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before = _rss_kb(pid, "VmRSS")
    rows = 0
    began = time.perf_counter()
    with httpx.stream("GET", url, params=params, timeout=600) as response:
        response.raise_for_status()
        for _ in response.iter_lines():
            rows += 1
    elapsed = time.perf_counter() - began
    growth = (_rss_kb(pid, "VmHWM") - before) / 1024
    return rows - 1, (rows - 1) / elapsed, growth


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def bench_history(size: Size, database_url: str, label: str) -> list[Figure]:
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    log(f"  filling {size.spans:,} per-minute spans ({label})")
    began = time.perf_counter()
    fill(database_url, size.spans, end)
    log(f"  filled in {time.perf_counter() - began:.1f} s")
    start = end - timedelta(minutes=size.spans)
    port = free_port()
    figures = []
    with serve(database_url, port, FX_SOURCE_TICKER_INTERVAL="60", FX_SOURCE_TICKER_MAX_GAP="120") as server:
        base = f"http://127.0.0.1:{port}"
        history = f"{base}/rates/KZT/history"
        # The year is measured over its last eleven twelfths, so that shifting it back a day per request stays
        # within the data.
        lead = (end - start) / 12
        queries = {
            "year at 1d": ({"start": iso(start + lead), "end": iso(end), "interval": "1d"}, 100, "1d"),
            "month at 1h": ({"start": iso(end - timedelta(days=30)), "end": iso(end), "interval": "1h"}, 50, "1h"),
            "day raw": ({"start": iso(end - timedelta(days=1)), "end": iso(end), "interval": "raw"}, 50, "1h"),
        }
        steps = {"1d": timedelta(days=1), "1h": timedelta(hours=1)}
        for name, (params, limit, step) in queries.items():
            p50, p95 = timed(history, {**params, "source": "ticker"}, size.requests, steps[step])
            figures.append(
                Figure(f"history {name} ({label}) p95, computed", p95, "ms", f"≤ {limit} (p50 {p50:.1f})", p95 <= limit)
            )
            p50, p95 = timed(history, {**params, "source": "ticker"}, size.requests, None)
            figures.append(Figure(f"history {name} ({label}) p95, repeated", p95, "ms", f"(p50 {p50:.1f})"))
        params = {"currencies": "KZT", "start": iso(start), "end": iso(end), "interval": "raw", "source": "ticker"}
        rows, rate, growth = export(f"{base}/rates/export.csv", params, server.pid)
        if rows != size.spans:
            raise RuntimeError(f"export gave {rows} rows, expected {size.spans}")
        figures.append(Figure(f"CSV export of {rows:,} rows ({label})", rate, "rows/s", "≥ 250,000", rate >= 250_000))
        figures.append(Figure(f"CSV export peak memory growth ({label})", growth, "MB", "≤ 100", growth <= 100))
    return figures


# --- ingest -----------------------------------------------------------------------------------------------


def bench_ingest(size: Size, database_url: str, label: str) -> list[Figure]:
    engine = make_engine(database_url)
    upgrade(engine)
    settings = load_settings(database_url=database_url, sources="ticker")
    body = SEED.read_bytes()
    start = datetime(2026, 2, 23, tzinfo=UTC)
    began = time.perf_counter()
    for minute in range(size.polls):
        when = start + timedelta(minutes=minute)
        outcome = process(engine, settings, ticker.SPEC, body, observed_at=when, started_at=when)
        assert outcome.ok, outcome.summary()
    elapsed = time.perf_counter() - began
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM rate_span")).scalar_one()
    engine.dispose()
    entries = size.polls * 40
    rate = size.polls / elapsed
    return [
        Figure(f"ingest of the seed page, {size.polls:,} polls ({label})", rate, "polls/s", "≥ 200", rate >= 200),
        Figure(f"rows stored for {entries:,} entries seen ({label})", stored, "rows", "= 5 distinct runs", stored == 5),
    ]


# --- a store at production size: a poll, /sources and a snapshot rebuild, against a store of one day ----------
#
# Each figure on the big store is paired with the same figure on a store holding one day of the same history
# (the same series and sources, so only the amount of history differs), measured in the same run and interleaved
# (round by round, in alternating order) so that the machine's varying speed affects both alike.

DAY = 1_440


def _to_revision(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", "app:migrations")
    with engine.connect().execution_options(**WRITE_OPTIONS) as conn, conn.begin():
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


@contextlib.contextmanager
def _bulk(database_url: str) -> Iterator[Any]:
    """A connection for generating history. On SQLite, a rollback journal and no syncing: a transaction of
    millions of rows in WAL mode would write them twice (the log, then the checkpoint)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                # Outside a transaction, and with no other connection open (leaving WAL mode needs both); the
                # app's engine turns WAL back on when it next connects.
                for pragma in ("journal_mode=DELETE", "synchronous=OFF", "cache_size=-500000"):
                    conn.exec_driver_sql(f"PRAGMA {pragma}")
                conn.commit()
            with conn.begin():
                yield conn
    finally:
        engine.dispose()


def build_store(database_url: str, minutes: int) -> str:
    """The big store: `minutes` of history, loaded at revision 0003, then migrated (0004 fills source_state
    from it, as it would a production database). Returns what it took."""
    began = time.perf_counter()
    engine = make_engine(database_url)
    _to_revision(engine, "0003")
    engine.dispose()
    with _bulk(database_url) as conn:
        bigstore.fill(conn, 0, minutes)
    filled = time.perf_counter()
    _to_revision(engine, "0004")
    counted = time.perf_counter()
    _to_revision(engine, "head")  # 0005 makes the rollup anew and fills it with the app's own code
    rolled = time.perf_counter()
    bigstore.analyze(engine)
    engine.dispose()
    took = time.perf_counter() - began
    parts = f"history {filled - began:.0f} s, migration 0004 {counted - filled:.1f} s, rollup {rolled - counted:.0f} s"
    return f"{bigstore.spans_in(minutes):,} spans; built in {took:.0f} s ({parts})"


def extend_store(database_url: str, minutes: int, times: int) -> str:
    """Ten times the history (`times` × `minutes`): the older years are loaded around the store, then the rollup
    and the counts are rebuilt by the app."""
    began = time.perf_counter()
    with _bulk(database_url) as conn:
        bigstore.fill(conn, minutes, minutes * times)
    filled = time.perf_counter()
    engine = make_engine(database_url)
    rebuild_rollup(engine)
    bigstore.analyze(engine)
    engine.dispose()
    took, rebuilt = time.perf_counter() - began, time.perf_counter() - filled
    parts = f"history {filled - began:.0f} s, rollup and counts {rebuilt:.0f} s"
    return f"{bigstore.spans_in(minutes * times):,} spans; the older history added in {took:.0f} s ({parts})"


def _cached(size: Size, work: Path, name: str, make: Callable[[str], str]) -> tuple[str, str]:
    """A SQLite store from var/bench/ (made by `make` on first use), copied into `work`: the runs change it.
    The file's name carries the schema revision and a hash of the generator and the rollup code, so a change to
    either makes a new one; older ones are removed."""
    target = work / f"{name}.db"
    if not size.cache:
        return f"sqlite:///{target}", make(f"sqlite:///{target}")
    generator = Path(bigstore.__file__).read_bytes() + Path(rollup.__file__).read_bytes()
    digest = hashlib.blake2b(generator, digest_size=4).hexdigest()
    cache_dir = ROOT / "var" / "bench"
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = cache_dir / f"{name}-{head_revision()}-{digest}.db"
    note = cache_dir / f"{cached.name}.txt"
    if not cached.exists():
        for stale in cache_dir.glob(f"{name}-*"):
            stale.unlink()
        partial = cache_dir / f"{name}.partial.db"
        partial.unlink(missing_ok=True)
        note.write_text(make(f"sqlite:///{partial}"))
        partial.rename(cached)
    shutil.copyfile(cached, target)
    return f"sqlite:///{target}", f"{note.read_text()} (cached in var/bench/)"


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


CHANGED = {b"0.01144": b"0.01145", b"0.00201": b"0.00202", b"0.10567": b"0.10568", b"0.00008": b"0.00009",
           b"0.28571": b"0.28572"}  # fmt: skip


def _changed(body: bytes) -> bytes:
    for old, new in CHANGED.items():
        body = body.replace(old, new)
    return body


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
    new = _interleaved(size, [day, big], [_changed(body), body])
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


def _scale_sqlite(size: Size, work: Path) -> list[Figure]:
    year = size.store_minutes

    def year_store() -> tuple[str, str]:
        return _cached(size, work, f"year-{year}m", lambda url: build_store(url, year))

    def decade_from_year(url: str) -> str:
        year_url, _ = year_store()  # a fresh copy, not the one the polls changed
        shutil.move(str(make_url(year_url).database), str(make_url(url).database))
        return extend_store(url, year, 10)

    def decade_store() -> tuple[str, str]:
        (work / f"year-{year}m.db").unlink()  # the disk holds one big store at a time
        return _cached(size, work, f"decade-{year}m", decade_from_year)

    return bench_scale(size, Sizes("SQLite", f"sqlite:///{work / 'day.db'}", year_store, decade_store))


def _scale_postgres(size: Size, work: Path) -> list[Figure]:
    year = size.store_minutes
    with postgres_schema() as day_url, postgres_schema() as url:
        # Ten times the history is the year's store with nine older years loaded around it.
        stores = Sizes(
            "PostgreSQL", day_url, lambda: (url, build_store(url, year)), lambda: (url, extend_store(url, year, 10))
        )
        return bench_scale(size, stores)


# --- databases, the run, the record -------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    admin = create_engine(POSTGRES_URL)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def machine() -> str:
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    wrk_version = (
        subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split(" [")[0]
        if shutil.which("wrk")
        else ""
    )
    packages = ", ".join(f"{p} {version(p)}" for p in ("fastapi", "starlette", "uvicorn", "sqlalchemy", "psycopg"))
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory} GB; Python {platform.python_version()}; {packages}; "
        f"{wrk_version.strip() or 'wrk'}"
    )


def record(figures: list[Figure], path: Path, command: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n".join(
        [
            f"## Run of {stamp}",
            "",
            f"Machine: {machine()}.",
            f"Command: `{command}`.",
            "",
            "| what | measured | target | |",
            "|---|---|---|---|",
            *(figure.row() for figure in figures),
            "",
        ]
    )
    header = (
        "# Benchmark results\n\nNewest run first; `make bench` adds a run. Method and commands: bench/README.md.\n\n"
    )
    previous = path.read_text().split("\n## ", 1)[1] if path.exists() and "\n## " in path.read_text() else ""
    path.write_text(header + section + ("\n## " + previous if previous else ""))


STEPS: dict[str, Callable[[Size, Path], list[Figure]]] = {
    "latest": bench_latest,
    "history-sqlite": lambda size, work: bench_history(size, f"sqlite:///{work / 'year.db'}", "SQLite"),
    "ingest-sqlite": lambda size, work: bench_ingest(size, f"sqlite:///{work / 'ingest.db'}", "SQLite"),
}


def _on_postgres(step: Callable[[Size, str, str], list[Figure]]) -> Callable[[Size, Path], list[Figure]]:
    def run(size: Size, work: Path) -> list[Figure]:
        with postgres_schema() as url:
            return step(size, url, "PostgreSQL")

    return run


STEPS["history-postgres"] = _on_postgres(bench_history)
STEPS["ingest-postgres"] = _on_postgres(bench_ingest)
STEPS["scale-sqlite"] = _scale_sqlite
STEPS["scale-postgres"] = _scale_postgres


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="every benchmark at a tiny size; records nothing")
    parser.add_argument("--only", help=f"comma-separated steps: {', '.join(STEPS)}")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    size = SMOKE if args.smoke else FULL
    steps = args.only.split(",") if args.only else list(STEPS)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="fx-bench-") as work:
        for name in steps:
            log(f"{name} ...")
            figures += STEPS[name](size, Path(work))
    if args.smoke:
        for figure in figures:
            figure.ok = None  # a tiny size says nothing about the targets: smoke only shows every step runs
    width = max(len(f.what) for f in figures)
    for figure in figures:
        verdict = {True: "met", False: "MISSED", None: ""}[figure.ok]
        print(f"{figure.what:<{width}}  {figure.value:>14,.2f} {figure.unit:<7} {figure.target:<28} {verdict}")
    if not args.smoke:
        record(figures, args.results, "make bench" + (f" (only {args.only})" if args.only else ""))
        log(f"recorded in {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
