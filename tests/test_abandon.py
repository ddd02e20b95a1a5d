"""Work a request gave up on stops, and gives its turn back: a 503 at FX_DB_TIMEOUT, or a client that hung up,
no longer leaves a thread computing or querying for nobody while the requests after it are turned away."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from app.api.dbaccess import Database, DatabaseUnavailable
from app.core.abandon import Abandoned, checkpoint, watching
from app.domain.calendar import Calendar
from app.read.series import Series, series_buckets
from app.storage.engine import make_engine
from tests.series import insert_spans, span
from tests.support import make_settings

# One turn, a one-second deadline, and a queue that waits long enough for a turn given back at once (the old
# behaviour held it until the work ended by itself: half a minute, or minutes, here).
LIMITS = {"db_timeout": 1, "db_concurrency": 1, "db_queue_timeout": 3}


def _database(database_url: str) -> Database:
    settings = make_settings(database_url, role="api", **LIMITS)
    # As the API makes its readers' engine: on PostgreSQL the server also cancels a statement at the deadline.
    return Database(make_engine(database_url, statement_timeout=settings.db_timeout), settings)


def test_python_work_given_up_at_the_deadline_stops_and_gives_its_turn_back(database_url: str) -> None:
    stopped: list[str] = []

    def busy() -> None:  # computing for half a minute, a checkpoint every 10 ms
        began = time.monotonic()
        try:
            while time.monotonic() - began < 30:
                checkpoint()
                time.sleep(0.01)
        except Abandoned:
            stopped.append(threading.current_thread().name)
            raise

    async def scenario() -> str:
        database = _database(database_url)
        try:
            with pytest.raises(DatabaseUnavailable) as given_up:
                await database.run(busy)
            assert given_up.value.reason == "timeout"
            return await database.run(lambda: "answered")  # the one turn is free again
        finally:
            database.close()
            database.engine.dispose()

    assert asyncio.run(scenario()) == "answered"
    assert len(stopped) == 1 and stopped[0].startswith("fx-db-")


def test_a_statement_given_up_at_the_deadline_is_interrupted(engine: Engine, database_url: str) -> None:
    # Minutes of SQL: SQLite interrupts it from the progress handler, PostgreSQL's server at statement_timeout.
    endless = text(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 10000000000) SELECT count(*) FROM n"
    )

    async def scenario() -> object:
        database = _database(database_url)
        try:
            with pytest.raises(DatabaseUnavailable) as given_up:
                await database.read(lambda session: session.connection().execute(endless).scalar())
            assert given_up.value.reason in {"timeout", "error"}
            return await database.read(lambda session: session.connection().execute(text("SELECT 42")).scalar())
        finally:
            database.close()
            database.engine.dispose()

    assert asyncio.run(scenario()) == 42


def test_the_readers_stop_at_their_first_checkpoint_once_given_up(engine: Engine) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    minutes = [start + timedelta(minutes=m) for m in range(3 * 60)]
    insert_spans(engine, [span("KZT", "ticker", f"0.0020{m % 10}", False, t, t) for m, t in enumerate(minutes)])
    series = Series("KZT", "ticker", timedelta(minutes=2))
    calendar = Calendar("1h")
    with engine.connect() as conn:
        assert len(series_buckets(conn, series, calendar, start, start + timedelta(hours=2))) == 3  # as it is
        given_up = threading.Event()
        given_up.set()
        with watching(given_up), pytest.raises(Abandoned):
            series_buckets(conn, series, calendar, start, start + timedelta(hours=2))
