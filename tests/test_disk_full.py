"""A full disk under the database: every poll fails with the database's own words ("database or disk is full"),
nothing stored is lost or corrupted, and it shows where people look while it lasts, not only once space returns:
/sources (the poller's memory laid over what the database holds, which cannot change), /ready's reason, the
metrics. Once space returns the failed polls' rows are written, with the times they happened.

The disk fills for real: a small tmpfs of the test's own when this machine lets it mount one, and in any case
SQLite's `PRAGMA max_page_count` on every connection (the file may not grow: the same SQLITE_FULL, from the same
code path). PostgreSQL's disk is its server's, not the service's to fill: its "No space left on device" is made
for real on a tablespace of its own on a small tmpfs, where the machine allows it, for the classification.

And an API replica, which cannot see the poller's memory: it shows what the database holds, says a poll is
overdue when none was recorded since one was due, and /ready says the poller is stopped or cannot write.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import Pool
from sqlmodel import Session, col, func, select

from app.api.app import create_app
from app.core.clock import utcnow
from app.ingest.poller import Poller, database_trouble, failed_because
from app.sources.fetch import make_client
from app.storage.engine import disk_full, make_engine, trouble
from app.storage.lock import poller_lock
from app.storage.migrate import upgrade
from app.storage.models import PollLog, RateSpan
from tests.conftest import POSTGRES_URL
from tests.processes import wait_for
from tests.support import SEED_PAGE, Upstream, make_settings

FULL = "database cannot write: database or disk is full"
FILLER = "~filler"  # a source that is none, sorting after every real one
FILLER_ROW = (
    "INSERT INTO poll_log (source, started_at, finished_at, outcome, poller, error, entries_seen, spans_opened,"
    " spans_extended) VALUES (?, '2000-01-01 00:00:00', '2000-01-01 00:00:00', 'error', 'filler', ?, 0, 0, 0)"
)


class Disk(Protocol):
    directory: Path

    def fill(self) -> None: ...

    def free(self) -> None: ...


def _mount_tmpfs(where: Path, size: str) -> None:
    """A tmpfs of `size` at `where`, or a skip when this machine does not let the test mount one."""
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")


def _unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


class Tmpfs:
    """A file system of its own that really fills up: a file written until the kernel says ENOSPC."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.filler = directory / "filler"

    def fill(self) -> None:
        descriptor = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while True:
                os.write(descriptor, b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
        finally:
            os.close(descriptor)
        # The last bytes that still fit, down to one page.
        with contextlib.suppress(OSError), open(self.filler, "ab", buffering=0) as tail:
            while tail.write(b"\0" * 4096):
                pass

    def free(self) -> None:
        self.filler.unlink()


class PageLimit:
    """SQLite's max_page_count on every connection as it leaves its pool: the file may not grow past the pages
    it has now. A filler table takes its free pages, and rows of a source that is none take what room the last
    page of the poll log (and of its index) still holds, so that the next poll-log row needs a page: as on a
    full disk, every poll then fails. (The pragma belongs to a connection, so it is set at each checkout.)"""

    UNLIMITED = 1_073_741_823  # SQLite's default

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.limit = self.UNLIMITED
        event.listen(Pool, "checkout", self._checkout)

    def _checkout(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute(f"PRAGMA max_page_count = {self.limit}")

    def fill(self) -> None:
        with sqlite3.connect(self.directory / "fx.db", isolation_level=None) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS disk_filler (b BLOB)")
            self.limit = int(conn.execute("PRAGMA page_count").fetchone()[0])
            conn.execute(f"PRAGMA max_page_count = {self.limit}")
            for size in (4000, 400, 40, 4):  # the free pages, then what room the last ones still hold
                with contextlib.suppress(sqlite3.OperationalError):
                    while True:
                        conn.execute("INSERT INTO disk_filler VALUES (zeroblob(?))", (size,))
                with contextlib.suppress(sqlite3.OperationalError):
                    while True:
                        conn.execute(FILLER_ROW, (FILLER, "x" * size))
        conn.close()

    def free(self) -> None:
        self.limit = self.UNLIMITED

    def close(self) -> None:
        event.remove(Pool, "checkout", self._checkout)


@pytest.fixture(params=["tmpfs", "page-limit"])
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Disk]:
    directory = tmp_path / "disk"
    directory.mkdir()
    if request.param == "tmpfs":
        _mount_tmpfs(directory, "16m")
        try:
            yield Tmpfs(directory)
        finally:
            _unmount(directory)
        return
    limit = PageLimit(directory)
    try:
        yield limit
    finally:
        limit.close()


def _log(engine: Engine) -> list[PollLog]:
    with Session(engine) as session:
        rows = session.exec(
            select(PollLog).where(PollLog.source != FILLER).order_by(col(PollLog.started_at), col(PollLog.id))
        )
        return list(rows)


def _ticker(client: TestClient) -> dict[str, Any]:
    response = client.get("/sources")
    assert response.status_code == 200, response.text
    return next(s for s in response.json()["sources"] if s["name"] == "ticker")


def _errors_counted(client: TestClient) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "fx_polls_total" and sample.labels == {"source": "ticker", "outcome": "error"}:
                return float(sample.value)
    return 0.0


def test_a_full_disk_is_shown_where_people_look_while_it_lasts(disk: Disk) -> None:
    url = f"sqlite:///{disk.directory / 'fx.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with Upstream() as upstream:
        settings = make_settings(
            url, role="all", sources="ticker", source_ticker_url=upstream.serve("/", SEED_PAGE.read_bytes()),
            source_ticker_interval=1, source_ticker_max_gap=2, poll_jitter=0, max_backoff=1,
            metrics_port=0,  # /metrics read through the test client
        )  # fmt: skip
        with TestClient(create_app(settings)) as client:
            wait_for(lambda: any(r.outcome == "ok" for r in _log(engine)), 20, "a first poll")
            errors = _errors_counted(client)
            disk.fill()

            # While the disk is full: /sources shows the failure, from the poller's memory (the database has
            # none of it), and the metrics count it.
            wait_for(lambda: _ticker(client)["last_error"] == FULL, 30, "/sources to show the full disk")
            during = _ticker(client)
            assert during["unrecorded"] >= 1 and during["consecutive_failures"] >= 1, during
            assert during["last_error_at"] is not None and during["overdue"] is False
            assert [r.outcome for r in _log(engine)] == ["ok"] * len(_log(engine))
            assert _errors_counted(client) > errors
            # Once no source is fresh, /ready says why: the disk, not only that nothing polled.
            wait_for(lambda: client.get("/ready").status_code == 503, 30, "/ready to fail")
            ready = client.get("/ready").json()
            assert ready["reason"].startswith("sources: no enabled source has polled successfully"), ready
            assert ready["reason"].endswith(FULL), ready

            disk.free()
            # Space is back: the failed polls' rows are written, and polling goes on.
            wait_for(lambda: [r.outcome for r in _log(engine)][-1:] == ["ok"] and len(_log(engine)) > 2, 30, "back")
            wait_for(lambda: client.get("/ready").status_code == 200, 30, "/ready to recover")
            after = _ticker(client)
    rows = _log(engine)
    failed = [r for r in rows if r.outcome == "error"]
    assert failed and all(r.error == FULL for r in failed), [(r.outcome, r.error) for r in rows]
    assert rows[0].outcome == "ok" and rows[-1].outcome == "ok"
    assert after["last_error"] == FULL and after["unrecorded"] == 0
    # Nothing lost or corrupted: the file is whole, and every observation is accounted for in the poll log.
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    with Session(engine) as session:
        observations = session.exec(select(func.sum(RateSpan.observations))).one()
    assert observations == sum(r.spans_opened + r.spans_extended for r in rows)
    engine.dispose()


def test_sqlite_full_is_the_database_unable_to_write_not_a_bug(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'full.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (b BLOB)"))
    with pytest.raises(OperationalError) as raised, engine.begin() as conn:
        conn.execute(text("PRAGMA max_page_count = 2"))
        for _ in range(100):
            conn.execute(text("INSERT INTO t VALUES (zeroblob(4000))"))
    exc = raised.value
    assert disk_full(exc) and trouble(exc) == "database or disk is full"
    assert database_trouble(exc) == "database or disk is full"
    assert failed_because(exc, "database or disk is full") == FULL
    engine.dispose()


def test_postgresql_out_of_space_is_the_database_unable_to_write_not_a_bug() -> None:
    """A tablespace on a tmpfs of 1 MB, on the real server: "could not extend file": SQLSTATE 53100."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            local = "SELECT inet_server_addr() IS NULL OR host(inet_server_addr()) = '127.0.0.1'"
            if not conn.execute(text(local)).scalar():
                pytest.skip("PostgreSQL is not on this machine: its files cannot be given a small disk")
    except OperationalError:
        admin.dispose()
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable")
    where = Path(tempfile.mkdtemp(prefix="fx-pgspace-"))
    where.chmod(0o755)
    name = f"fx_full_{uuid.uuid4().hex[:12]}"
    try:
        _mount_tmpfs(where, "1m")
        try:
            shutil.chown(where, "postgres", "postgres")
        except (LookupError, PermissionError) as exc:
            pytest.skip(f"cannot give the tablespace's directory to the server's user: {exc}")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE TABLESPACE {name} LOCATION '{where}'"))
            try:
                conn.execute(text(f"CREATE TABLE {name} (b text) TABLESPACE {name}"))
                conn.execute(text(f"ALTER TABLE {name} ALTER COLUMN b SET STORAGE EXTERNAL"))  # not compressed
                engine = make_engine(POSTGRES_URL)
                page = text(
                    f"INSERT INTO {name} SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 250)"
                )
                try:
                    with pytest.raises(OperationalError) as raised, engine.begin() as writer:
                        for _ in range(1000):  # 8 MB for 1 MB of room
                            writer.execute(page)
                finally:
                    engine.dispose()
            finally:
                conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
                conn.execute(text(f"DROP TABLESPACE IF EXISTS {name}"))
    finally:
        _unmount(where)
        with contextlib.suppress(OSError):
            where.rmdir()
        admin.dispose()
    said = trouble(raised.value)
    assert disk_full(raised.value) and said is not None and "No space left on device" in said, said
    assert failed_because(raised.value, said) == f"database cannot write: {said}"


# --- what an API replica can honestly say --------------------------------------------------------------------


def test_an_api_replica_says_a_poll_is_overdue_when_none_was_recorded_since_one_was_due(
    engine: Engine, database_url: str
) -> None:
    """The poller polled two hours ago and has recorded nothing since (stopped, or its writes fail): a replica
    cannot know which, but it can tell that a poll was due and none was recorded."""
    polling = make_settings(database_url, sources="peg")
    two_hours_ago = utcnow() - timedelta(hours=2)

    async def poll() -> None:
        lock = poller_lock(engine)
        try:
            async with make_client(5.0, "fx-ticker-test") as client:
                await Poller(engine, polling, client, lock, clock=lambda: two_hours_ago).poll_all()
        finally:
            lock.release()

    asyncio.run(poll())
    with TestClient(create_app(make_settings(database_url, role="api", sources="peg"))) as client:
        peg = next(s for s in client.get("/sources").json()["sources"] if s["name"] == "peg")
        nbk = next(s for s in client.get("/sources").json()["sources"] if s["name"] == "nbk")
        ready = client.get("/ready")
    assert peg["last_success"] is not None and peg["overdue"] is True, peg
    # What only the poller's memory holds is not made up here.
    assert peg["unrecorded"] is None and peg["runs_skipped"] is None and peg["last_run_skipped_at"] is None
    assert nbk["overdue"] is None  # not enabled here
    assert ready.status_code == 503
    reason = ready.json()["reason"]
    assert reason.startswith("sources: no enabled source has polled successfully within its staleness bound; ")
    assert "though polls were due: the poller is stopped or cannot write to the database" in reason, reason
