"""What CSV downloads whose clients stop reading cost the server in memory: a bounded amount each while they stall,
and nothing once they are gone.

A real `fx-ticker serve` over a store of a month of per-minute spans of every currency (bench/bigstore.py, the
generator of the production-size stores), on SQLite and PostgreSQL: the driver and the SQL differ, and so does where
their results are allocated. The clients and the measuring are the `stalled` benchmark's (bench/stalled.py), which
holds the same bounds on a year: raw sockets with a small receive buffer that send the request, read the status
line and headers, and never read again; the server's resident size (/proc/PID/status), the figure an operator and
the kernel's out-of-memory killer see. And one of the leaks that measuring found, on its own: an idle database worker
thread that kept its last job alive.
"""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.api.dbaccess import Database
from app.storage.engine import make_engine
from bench import bigstore
from bench.stalled import BACK, CLIENTS, GROWTH_MIB, SETTLE, export_path, settled, stalled_client, warm_up
from tests.processes import Server, wait_for
from tests.support import make_settings

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


class _Page(list[bytes]):
    """A step's result (a list cannot be referred to weakly; this can)."""


class _Export:
    """Stands for app.read.export.CsvExport: a download's state, reached from its `step` job."""

    def step(self) -> _Page:
        return _Page([b"a line of the file\r\n"])


def test_an_idle_worker_thread_keeps_nothing_of_its_last_job(tmp_path: Path) -> None:
    """A worker thread that kept its last job and result as locals, for as long as it idled, kept a whole download
    alive after its client had gone: its export (with a memo of the rows formatted) and the page it had read."""
    url = f"sqlite:///{tmp_path / 'fx.db'}"
    database = Database(make_engine(url), make_settings(url, role="api"))

    async def download() -> tuple[weakref.ref[_Export], weakref.ref[_Page]]:
        export = _Export()
        page = await database.run(export.step)
        return weakref.ref(export), weakref.ref(page)

    try:
        export, page = asyncio.run(download())

        def forgotten() -> bool:
            gc.collect()
            return export() is None and page() is None

        wait_for(forgotten, 5, "the worker thread to let go of the export and its page")
    finally:
        database.close()
        database.engine.dispose()
