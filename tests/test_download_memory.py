"""What CSV downloads whose clients stop reading cost the server in memory: a bounded amount each while they stall,
and nothing once they are gone.

A real `fx-ticker serve` over a store of a month of per-minute spans of every currency (bench/bigstore.py, the
generator of the production-size stores), on SQLite and PostgreSQL: the driver and the SQL differ, and so does where
their results are allocated. Clients are raw sockets with a small receive buffer that send the request, read the
status line and then never read again. Memory is the server's resident size (/proc/PID/status), the figure an
operator and the kernel's out-of-memory killer see.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from bench import bigstore
from tests.processes import Server, wait_for

MiB = 1024 * 1024
DAYS = 30  # 43,200 minutes: 216,000 ticker spans, a 20 MB file, eight times a download's share of the bound
CLIENTS = 20
GROWTH = 50 * MiB  # at most, with all of them stalled
BACK = 0.10  # once they are gone, the server is within this fraction of where it was before
TURNS = 8  # FX_DB_CONCURRENCY's default: the warm-up uses every turn, connection and worker thread at once
START = bigstore.END - timedelta(days=DAYS)
EXPORT = f"/rates/export.csv?source=ticker&start={START:%Y-%m-%d}&end={bigstore.END:%Y-%m-%d}"
LAST_DAY = f"/rates/export.csv?source=ticker&start={bigstore.END - timedelta(days=1):%Y-%m-%d}"


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"no VmRSS for process {pid}")


def _settled(measure: Callable[[], int], quiet: float = 1.5, limit: float = 20.0) -> int:
    """The figure once it has not grown for `quiet` seconds (at most `limit` seconds of waiting)."""
    deadline = time.monotonic() + limit
    top, since = measure(), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.1)
        now = measure()
        if now > top:
            top, since = now, time.monotonic()
    return measure()


def _stalled(port: int) -> socket.socket:
    """A client that asks for the export, reads the status line and headers, and never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server soon has to wait
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {EXPORT} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    sock.settimeout(30)
    head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 200"), head[:300]
    return sock


def _download(base_url: str, path: str) -> int:
    response = httpx.get(base_url + path, timeout=60)
    assert response.status_code == 200, response.text[:300]
    return len(response.content)


def _mib(size: int) -> str:
    return f"{size / MiB:.1f} MiB"


@pytest.mark.slow
def test_stalled_downloads_hold_a_bounded_amount_of_memory_and_give_it_back(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        # The spans only: the export reads nothing else (a rollup of this store would take longer than the test).
        bigstore.fill(conn, 0, DAYS * 24 * 60)
    bigstore.analyze(engine)
    env = {"FX_DATABASE_URL": database_url, "FX_ROLE": "api", "FX_SOURCES": "ticker", "FX_LOG_LEVEL": "warning"}
    with ExitStack() as stack:
        server = stack.enter_context(Server(env, tmp_path / "serve.log")).wait_healthy()
        pid = server.process.pid
        # A server that has been in use: every turn taken at once, so every pooled connection is open and every
        # worker thread started (what they keep belongs to the pool, not to a download). Small files, read whole.
        with ThreadPoolExecutor(TURNS) as pool:
            assert min(pool.map(lambda _: _download(server.base_url, LAST_DAY), range(TURNS))) > 500_000
        before = _settled(lambda: _rss(pid))

        clients = [_stalled(server.port) for _ in range(CLIENTS)]
        for client in clients:
            stack.callback(client.close)
        stalled = _settled(lambda: _rss(pid))
        grown = f"{_mib(stalled - before)}, {_mib((stalled - before) // CLIENTS)} each"
        print(f"\nserver memory: {_mib(before)} before, {_mib(stalled)} with {CLIENTS} downloads stalled (+{grown})")
        assert stalled - before <= GROWTH, f"{CLIENTS} stalled downloads grew the server by {grown}"

        for client in clients:
            client.close()
        time.sleep(2)  # a moment for the server to see them go and give back what they held
        wait_for(lambda: _rss(pid) <= before * (1 + BACK), 10, "the server's memory to come back")
        print(f"server memory after they closed: {_mib(_rss(pid))}")
    assert "Traceback" not in server.output()
