"""The stalled-downloads steps: on the big store (a year of per-minute spans of every currency, bench/bigstore.py),
20 clients ask for the CSV export of the whole year (every currency, about 250 MB each) and stop reading; the
server's resident memory before, while they stall, and after they close.

The server has been in use first: as many one-day exports at once as it has database turns, so its pool's
connections are open and its worker threads started (what they keep belongs to the pool, not to a download). A
stalled client is a socket with a 4 KiB receive buffer that sends the request, reads the status line and headers,
and never reads again. tests/test_download_memory.py holds the same bounds on a month of the same history.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx

from bench import bigstore
from bench.harness import Figure, Size, free_port, log, postgres_schema, rss_kb, serve
from bench.stores import build_store, cached

CLIENTS = 20
GROWTH_MIB = 50  # at most, with every client stalled
BACK = 0.10  # once they are gone, the server is within this fraction of where it was before them
TURNS = 8  # FX_DB_CONCURRENCY's default: the warm-up takes every turn at once
SETTLE = 2.0  # seconds for the server to notice the clients went, and give back what they held


def export_path(days: float) -> str:
    """The CSV export of every currency from the ticker over the store's last `days` days."""
    start = bigstore.END - timedelta(days=days)
    return f"/rates/export.csv?source=ticker&start={start:%Y-%m-%dT%H:%M:%SZ}&end={bigstore.END:%Y-%m-%d}"


def stalled_client(port: int, path: str) -> socket.socket:
    """A client that asks for `path`, reads the status line and headers, and never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server soon has to wait
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    sock.settimeout(60)
    head = sock.recv(4096)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"the export was not answered 200: {head[:300]!r}")
    return sock


def settled(measure: Callable[[], int], quiet: float = 1.5, limit: float = 30.0) -> int:
    """The figure once it has not grown for `quiet` seconds (waiting at most `limit` seconds)."""
    deadline = time.monotonic() + limit
    top, since = measure(), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.1)
        now = measure()
        if now > top:
            top, since = now, time.monotonic()
    return measure()


def warm_up(base_url: str, path: str, turns: int = TURNS) -> None:
    """`turns` downloads of `path` at once, read whole: every turn, pooled connection and worker thread in use."""

    def download(_: int) -> None:
        httpx.get(base_url + path, timeout=120).raise_for_status()

    with ThreadPoolExecutor(turns) as pool:
        list(pool.map(download, range(turns)))


def bench_stalled(size: Size, label: str, store: Callable[[], tuple[str, str]]) -> list[Figure]:
    log(f"  the year's store of every currency ({label})")
    url, built = store()
    log(f"  {built}")
    days = size.store_minutes / 1440
    port = free_port()
    with serve(url, port) as server:
        warm_up(f"http://127.0.0.1:{port}", export_path(min(1.0, days / 10)))

        def rss() -> int:
            return rss_kb(server.pid) * 1024

        before = settled(rss)
        clients = [stalled_client(port, export_path(days)) for _ in range(CLIENTS)]
        try:
            stalled = settled(rss)
        finally:
            for client in clients:
                client.close()
        time.sleep(SETTLE)
        after = rss()
    mib = 1024 * 1024
    grown, back = (stalled - before) / mib, after / before - 1
    what = f"{CLIENTS} stalled downloads of {days:.0f} days of every currency ({label})"
    return [
        Figure(f"{what}: server memory growth", grown, "MiB",
               f"≤ {GROWTH_MIB} (RSS {before / mib:.0f} → {stalled / mib:.0f} MiB; {grown / CLIENTS:.2f} each)",
               grown <= GROWTH_MIB),
        Figure(f"{what}: server memory after they closed, over before", 100 * back, "%",
               f"≤ {100 * BACK:.0f} (RSS {after / mib:.0f} MiB, {SETTLE:g} s after)", back <= BACK),
    ]  # fmt: skip


def stalled_sqlite(size: Size, work: Path) -> list[Figure]:
    year = size.store_minutes
    return bench_stalled(size, "SQLite", lambda: cached(size, work, f"year-{year}m", lambda u: build_store(u, year)))


def stalled_postgres(size: Size, work: Path) -> list[Figure]:
    with postgres_schema() as url:
        return bench_stalled(size, "PostgreSQL", lambda: (url, build_store(url, size.store_minutes)))
