"""What the benchmark steps share: figures and sizes, server processes, wrk, sampled latencies, databases."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.ingest.pipeline import process
from app.sources import nbk, ticker
from app.sources.registry import load_settings
from app.storage.engine import make_engine
from app.storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "fixtures" / "ticker-page-2026-02-23.txt"
NBK_TABLE = ROOT / "tests" / "fixtures" / "nbk_get_rates_2026-04-01.xml"
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
    budget: float  # seconds of timed requests per query at most (a query far over its target stops early)
    subscribers: int  # concurrent /rates/stream subscribers
    writes: int  # writes whose delivery to every subscriber is timed


FULL = Size(seconds=15, spans=MINUTES_IN_YEAR, requests=40, polls=1440, store_minutes=MINUTES_IN_YEAR, rounds=12,
            round_polls=25, cache=True, budget=60, subscribers=5_000, writes=20)  # fmt: skip
SMOKE = Size(seconds=1, spans=3_000, requests=3, polls=20, store_minutes=2_000, rounds=2, round_polls=3, cache=False,
             budget=5, subscribers=50, writes=3)  # fmt: skip


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def more_files(wanted: int) -> None:
    """Raise this process's open-files limit to `wanted` (the hard limit too, where allowed: root)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return
        wanted = hard
    if soft == resource.RLIM_INFINITY or soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@contextlib.contextmanager
def running(
    command: list[str], env: dict[str, str], port: int, files: int | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, once it answers on `port`; stopped (SIGTERM) afterwards. With `files`, its open-files
    limit is raised to that many before it starts."""
    preexec = (lambda: more_files(files)) if files else None
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=preexec
    )
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
        process.wait(timeout=60)
        if process.stderr is not None:
            process.stderr.close()


def serve(
    database_url: str, port: int, files: int | None = None, **extra: str
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """`fx-ticker serve --workers 1`, role `api`, the ticker as the only source; `extra` are FX_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FX_")}
    env.update(
        FX_DATABASE_URL=database_url,
        FX_ROLE="api",
        FX_SOURCES="ticker",
        FX_LOG_LEVEL="warning",
        **extra,
    )
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "1"]
    return running(command, env, port, files)


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


# --- the seed page, and a page with every value changed ---------------------------------------------------

CHANGED = {b"0.01144": b"0.01145", b"0.00201": b"0.00202", b"0.10567": b"0.10568", b"0.00008": b"0.00009",
           b"0.28571": b"0.28572"}  # fmt: skip


def changed(body: bytes) -> bytes:
    for old, new in CHANGED.items():
        body = body.replace(old, new)
    return body


def seeded(database_url: str) -> None:
    """A migrated store holding the seed page and NBK's table (so every served currency has a rate), ingested now."""
    engine = make_engine(database_url)
    upgrade(engine)
    now = datetime.now(UTC)
    settings = load_settings(database_url=database_url)
    process(engine, settings, ticker.SPEC, SEED.read_bytes(), observed_at=now, started_at=now)
    process(engine, settings, nbk.SPEC, NBK_TABLE.read_bytes(), observed_at=now, started_at=now)
    engine.dispose()


# --- load and latency ---------------------------------------------------------------------------------------


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float


def _ms(text_value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text_value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def need_wrk() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `apt-get install wrk` (Debian/Ubuntu) or `brew install wrk`")


def wrk(url: str, seconds: int, headers: dict[str, str] | None = None) -> Load:
    """wrk with one thread (the server gets the other core) and 32 connections."""
    command = ["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in out:
        raise RuntimeError(f"errors under load:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # Anchored at the line start: the stdev column ends in a percentage too ("72.50%" holds "50%").
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    return Load(rps, p50, p99)


@dataclass
class Latency:
    """Milliseconds of sequential requests: the median, the 95th percentile, and how many were timed."""

    p50: float
    p95: float
    count: int

    @classmethod
    def of(cls, samples: list[float]) -> Latency:
        ordered = sorted(samples)
        return cls(statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], len(ordered))

    def note(self, requests: int) -> str:
        """The median, and how many requests of the `requests` planned were timed when a budget cut them short."""
        cut = f"; {self.count} of {requests} requests, the time budget spent" if self.count < requests else ""
        return f"p50 {self.p50:.1f}{cut}"


def _timed(call: Callable[[int], object], i: int) -> float:
    began = time.perf_counter()
    call(i)
    return (time.perf_counter() - began) * 1000


def sampled(calls: list[Callable[[int], object]], n: int, budget: float) -> list[Latency]:
    """The latency of each of `calls`, called for i = 1..n in turn (call i of each covers the same range), after
    one warm-up each (i = 0). Stops early once `budget` seconds were spent timing (at least one round); a warm-up
    that alone took longer than the budget is the only sample of every call (a query that slow is no warmer for
    a second try)."""
    warm = [_timed(call, 0) for call in calls]
    if sum(warm) / 1000 > budget:
        return [Latency.of([ms]) for ms in warm]
    samples: list[list[float]] = [[] for _ in calls]
    began = time.perf_counter()
    for i in range(1, n + 1):
        for call, found in zip(calls, samples, strict=True):
            found.append(_timed(call, i))
        if time.perf_counter() - began > budget:
            break
    return [Latency.of(found) for found in samples]


# --- PostgreSQL ------------------------------------------------------------------------------------------------


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
