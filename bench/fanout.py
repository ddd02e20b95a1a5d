"""The `stream` step: N subscribers of `/rates/stream` on one `fx-ticker serve --workers 1` (bench/sse_clients.py,
a process of its own), then writes into the same store: how long until the last subscriber has the new event, what
each subscriber costs the server in memory, and what /rates/latest serves under wrk while they are connected.

The API learns of a write by polling the data version every FX_REFRESH_SECONDS (2 by default; REFRESH here), so a
delivery time is that wait (a fraction of the interval, the writes' phase being random) plus the render and the
fan-out; the time to the first subscriber shows the former, first to last the latter.
"""

from __future__ import annotations

import queue
import random
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from app.ingest.pipeline import process
from app.sources import ticker
from app.sources.registry import load_settings
from app.storage.engine import make_engine
from bench.harness import (
    ROOT,
    SEED,
    Figure,
    Size,
    changed,
    free_port,
    log,
    more_files,
    need_wrk,
    rss_kb,
    seeded,
    serve,
    wrk,
)

REFRESH = "0.5"  # FX_REFRESH_SECONDS of the server
DELIVERY_TIMEOUT = 60.0


class Clients:
    """The subscribers' process, and the lines it writes (bench/sse_clients.py)."""

    def __init__(self, port: int, count: int) -> None:
        command = [sys.executable, "-m", "bench.sse_clients", str(port), str(count)]
        self.process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())
        self.lines.put("error: the subscribers' process ended")

    def next(self, timeout: float) -> list[str]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"no word from the subscribers within {timeout:.0f} s") from None
        if line.startswith("error"):
            raise RuntimeError(f"subscribers: {line}")
        return line.split()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def bench_stream(size: Size, work: Path) -> list[Figure]:
    need_wrk()
    n = size.subscribers
    more_files(n + 200)  # inherited by the subscribers' process
    database_url = f"sqlite:///{work / 'stream.db'}"
    seeded(database_url)
    engine = make_engine(database_url)
    settings = load_settings(database_url=database_url, sources="ticker")
    bodies = [changed(SEED.read_bytes()), SEED.read_bytes()]
    port = free_port()
    serving = serve(database_url, port, files=n + 200, FX_SOURCE_TICKER_MAX_GAP="86400", FX_REFRESH_SECONDS=REFRESH)
    with serving as server:
        latest = f"http://127.0.0.1:{port}/rates/latest"
        wrk(latest, 1)  # warm up
        alone = wrk(latest, size.seconds)
        before = rss_kb(server.pid)
        log(f"  connecting {n:,} subscribers")
        clients = Clients(port, n)
        try:
            _, _, connecting = clients.next(timeout=600)
            connected = rss_kb(server.pid)
            log(f"  connected in {connecting} s; /rates/latest under wrk while they are")
            crowded = wrk(latest, size.seconds)
            log(f"  {size.writes} writes")
            first, last = [], []
            for w in range(size.writes):
                time.sleep(random.uniform(0.2, 1.2))  # a random phase against the server's polling
                began = time.monotonic()
                now = datetime.now(UTC)
                outcome = process(engine, settings, ticker.SPEC, bodies[w % 2], observed_at=now, started_at=now)
                assert outcome.ok, outcome.summary()
                _, _, earliest, latest_at, _ = clients.next(timeout=DELIVERY_TIMEOUT)
                first.append((float(earliest) - began) * 1000)
                last.append((float(latest_at) - began) * 1000)
        finally:
            clients.close()
        time.sleep(1)
        after = wrk(latest, size.seconds)
    engine.dispose()
    without = (alone.rps + after.rps) / 2
    per_subscriber = (connected - before) / n
    spread = sorted(b - a for a, b in zip(first, last, strict=True))
    first.sort()
    last.sort()
    p99 = last[min(len(last) - 1, int(len(last) * 0.99))]
    what = f"SSE fan-out, {n:,} subscribers on one worker"
    return [
        Figure(f"{what}: connected", n, "subscribers", f"in {connecting} s (a process of their own)"),
        Figure(
            f"{what}: write to the last subscriber, p99",
            p99,
            "ms",
            f"≤ 2,000 (p50 {statistics.median(last):.0f}; {len(last)} writes; FX_REFRESH_SECONDS={REFRESH})",
            p99 <= 2000,
        ),
        Figure(
            f"{what}: write to the first subscriber, p50",
            statistics.median(first),
            "ms",
            f"(the poll of the data version and the render; max {first[-1]:.0f})",
        ),
        Figure(
            f"{what}: first to last subscriber, p50",
            statistics.median(spread),
            "ms",
            f"(the fan-out itself; max {spread[-1]:.0f})",
        ),
        Figure(
            f"{what}: server memory per subscriber",
            per_subscriber,
            "KB",
            f"≤ 20 (RSS {before / 1024:.0f} → {connected / 1024:.0f} MB)",
            per_subscriber <= 20,
        ),
        Figure(
            "/rates/latest, no subscribers (stream step)",
            without,
            "req/s",
            f"before {alone.rps:,.0f}, after {after.rps:,.0f}",
        ),
        Figure(
            f"/rates/latest with {n:,} subscribers connected",
            crowded.rps,
            "req/s",
            f"p50 {crowded.p50_ms:.2f} ms, p99 {crowded.p99_ms:.2f} ms",
        ),
        Figure(
            f"/rates/latest with {n:,} subscribers ÷ without",
            crowded.rps / without,
            "×",
            "≥ 0.8",
            crowded.rps / without >= 0.8,
        ),
    ]
