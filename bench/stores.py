"""Stores at production size for the steps that need them (scale, histories): built by the database itself from
bench/bigstore.py, migrated as a production database would be, and (SQLite, full size) cached under var/bench/."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine

from app.ingest import pairs, rollup
from app.ingest.schema import migrate
from app.ingest.store import rebuild_rollup
from app.storage.engine import WRITE_OPTIONS, make_engine
from app.storage.migrate import head_revision
from bench import bigstore
from bench.harness import ROOT, Size

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
    migrate(engine)  # 0005 to 0007 make the rollups; the refill after them fills them with the app's own code
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


def cached(size: Size, work: Path, name: str, make: Callable[[str], str]) -> tuple[str, str]:
    """A SQLite store from var/bench/ (made by `make` on first use), copied into `work`: the runs change it.
    The file's name carries the schema revision and a hash of the generator and the rollups' code, so a change to
    either makes a new one; older ones are removed."""
    target = work / f"{name}.db"
    for leftover in (target, target.with_name(f"{target.name}-wal"), target.with_name(f"{target.name}-shm")):
        leftover.unlink(missing_ok=True)  # an earlier step's copy
    if not size.cache:
        return f"sqlite:///{target}", make(f"sqlite:///{target}")
    generator = b"".join(Path(str(module.__file__)).read_bytes() for module in (bigstore, rollup, pairs))
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
