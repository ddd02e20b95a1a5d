"""What CSV downloads whose clients stop reading cost the server in memory: a bounded amount each while they stall,
and nothing once they are gone.

A real `fx-ticker serve` over a store of a month of per-minute spans of every currency (bench/bigstore.py, the
generator of the production-size stores), on SQLite and PostgreSQL: the driver and the SQL differ, and so does where
their results are allocated. The clients and the measuring are the `stalled` benchmark's (bench/stalled.py), which
holds the same bounds on a year: raw sockets with a small receive buffer that send the request, read the status
line and headers, and never read again; the server's resident size (/proc/PID/status), the figure an operator and
the kernel's out-of-memory killer see.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bench import bigstore
from bench.stalled import BACK, CLIENTS, GROWTH_MIB, SETTLE, export_path, settled, stalled_client, warm_up
from tests.processes import Server, wait_for

MiB = 1024 * 1024
DAYS = 30  # 43,200 minutes: 216,000 ticker spans, a 20 MB file, about eight times a download's share of the bound


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"no VmRSS for process {pid}")


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
    with Server(env, tmp_path / "serve.log") as server:
        server.wait_healthy()
        pid = server.process.pid
        warm_up(server.base_url, export_path(1))  # a server in use: its pool's connections and threads exist
        before = settled(lambda: _rss(pid))

        clients = [stalled_client(server.port, export_path(DAYS)) for _ in range(CLIENTS)]
        try:
            stalled = settled(lambda: _rss(pid))
        finally:
            for client in clients:
                client.close()
        grown = f"{_mib(stalled - before)}, {_mib((stalled - before) // CLIENTS)} each"
        print(f"\nserver memory: {_mib(before)} before, {_mib(stalled)} with {CLIENTS} downloads stalled (+{grown})")
        assert stalled - before <= GROWTH_MIB * MiB, f"{CLIENTS} stalled downloads grew the server by {grown}"

        time.sleep(SETTLE)  # a moment for the server to see them go and give back what they held
        wait_for(lambda: _rss(pid) <= before * (1 + BACK), 10, "the server's memory to come back")
        print(f"server memory after they closed: {_mib(_rss(pid))}")
    assert "Traceback" not in server.output()
