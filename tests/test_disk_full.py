"""A full disk under the database is the database unable to write: an outage to wait out, said in the database's
own words, not a bug. Made for real: SQLite's `PRAGMA max_page_count` (the file may not grow: SQLITE_FULL), and
PostgreSQL's "No space left on device" on a tablespace of its own on a small tmpfs, where the machine allows it.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from app.ingest.poller import database_trouble, failed_because
from app.storage.engine import disk_full, make_engine, trouble
from tests.conftest import POSTGRES_URL

FULL = "database cannot write: database or disk is full"


def _mount_tmpfs(where: Path, size: str) -> None:
    """A tmpfs of `size` at `where`, or a skip when this machine does not let the test mount one."""
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")


def _unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


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
