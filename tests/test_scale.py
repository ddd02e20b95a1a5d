"""A store that holds years of history: a poll, /sources, a snapshot rebuild and a recent cross rate's buckets do the
same work as on a small one.

Work is counted, not timed: on SQLite the virtual-machine instructions SQLite runs (a progress handler), on
PostgreSQL the rows and index entries the transaction read (its own statistics counters). A query that scans
the history does ten times the work on a store ten times the size; an index lookup does the same.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, text
from sqlmodel import Session, SQLModel, col, select

from app.core.settings import Settings
from app.domain.calendar import Calendar
from app.domain.quotes import Quote
from app.domain.values import Value
from app.ingest import report
from app.ingest.pipeline import Outcome, store_quotes
from app.ingest.store import rebuild_rollup
from app.read.latest import LatestService
from app.read.query import Latest, latest_of
from app.read.series import Series, series_buckets
from app.read.status import all_sources
from app.storage.engine import make_engine
from app.storage.models import RateSpan
from tests.support import at, make_settings

T0 = at("2026-03-02T12:00")
CURRENCIES = ("KGS", "KZT", "TJS", "UZS", "TMT")
# The ticker's five currencies every minute, and KZT from two more sources, so that a new ticker value is
# compared with the other sources' current values (the spread flag).
SMALL = 1500  # minutes of history in the small store; the big one holds ten times as many

_PG_READS = (
    "SELECT coalesce(sum(pg_stat_get_xact_tuples_returned(c.oid)), 0) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i')"
)


class Meter:
    """Counts the work the database does for statements run through `engine` while measuring."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.on = False
        self.work = 0
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", self._sqlite_connect)
        else:
            event.listen(engine, "begin", self._pg_begin)
            event.listen(engine, "commit", self._pg_end)
            event.listen(engine, "rollback", self._pg_end)
        self._started: dict[int, int] = {}

    def _tick(self) -> int:
        if self.on:
            self.work += 1
        return 0  # carry on

    def _sqlite_connect(self, dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_progress_handler(self._tick, 50)

    @staticmethod
    def _pg_reads(conn: Any) -> int:
        # The transaction's own counters (not yet reported to the statistics system), read on the raw
        # connection so that the reading is neither counted nor seen by SQLAlchemy's events.
        with conn.connection.dbapi_connection.cursor() as cursor:
            cursor.execute(_PG_READS)
            return int(cursor.fetchone()[0])

    def _pg_begin(self, conn: Any) -> None:
        self._started[id(conn)] = self._pg_reads(conn)

    def _pg_end(self, conn: Any) -> None:
        started = self._started.pop(id(conn), None)
        if started is not None and self.on:
            self.work += self._pg_reads(conn) - started

    @contextmanager
    def measuring(self) -> Iterator[None]:
        self.on, self.work = True, 0
        try:
            yield
        finally:
            self.on = False


def _minute_value(currency: str, minute: int) -> tuple[str, bool]:
    """Every minute a new value (nothing collapses), in the direction the ticker publishes."""
    base = {"KGS": 1144, "KZT": 201, "TJS": 10567, "UZS": 8, "TMT": 28571}[currency]
    return f"0.{base:05d}{minute % 9973:04d}", False


def _history(first: int, last: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Spans, poll-log rows and flags for the minutes [first, last) before T0."""
    spans, logs, flags = [], [], []
    for minute in range(first, last):
        moment = T0 - timedelta(minutes=minute)
        for currency in CURRENCIES:
            value, per_usd = _minute_value(currency, minute)
            spans.append(_span(currency, "ticker", value, per_usd, moment, moment))
        rejections = "KGS: conflicting values" if minute % 50 == 0 else None
        logs.append(_log_row(moment, rejections))
        if minute % 60 == 0:
            flags.append({"source": "ticker", "currency": "KZT", "raised_at": moment, "kind": "jump", "detail": "x"})
            day = moment.replace(hour=0, minute=0)
            spans.append(_span("KZT", "erapi", f"{480 + minute // 60}", True, moment, moment + timedelta(minutes=59)))
            spans.append(_span("KZT", "nbk", f"{479 + minute // 60}.5", True, moment, moment, day.date()))
    return spans, logs, flags


def _log_row(moment: datetime, rejections: str | None) -> dict[str, Any]:
    return {"source": "ticker", "started_at": moment, "finished_at": moment, "outcome": "ok", "poller": "h:1",
            "error": None, "entries_seen": 40, "spans_opened": 5, "spans_extended": 0, "rejections": rejections,
            "flags": None}  # fmt: skip


def _span(
    currency: str, source: str, value: str, per_usd: bool, first: datetime, last: datetime, effective: Any = None
) -> dict[str, Any]:
    return {"currency": currency, "source": source, "value": value, "per_usd": per_usd, "first_seen": first,
            "last_seen": last, "observations": 1, "effective_date": effective, "reported_change_pct": None}  # fmt: skip


# Every table a poll or a reader touches, derived ones included.
TABLES = ("rate_span, rate_rollup, rate_rollup_day, rate_pair_rollup, rate_pair_rollup_day, poll_log, quote_flag, "
          "source_state")  # fmt: skip


def _load(engine: Engine, first: int, last: int) -> None:
    """Loads history around the store (as a bulk load would), then brings the derived data up to date."""
    spans, logs, flags = _history(first, last)
    with Session(engine) as session:
        conn = session.connection()
        for table, rows in (("rate_span", spans), ("poll_log", logs), ("quote_flag", flags)):
            for at_once in range(0, len(rows), 5_000):
                conn.execute(insert(SQLModel.metadata.tables[table]), rows[at_once : at_once + 5_000])
        session.commit()
    rebuild_rollup(engine)
    if engine.dialect.name == "postgresql":
        # As autovacuum would have by now in a store that grew to this size; the planner needs its statistics.
        with engine.begin() as conn:
            conn.execute(text(f"ANALYZE {TABLES}"))


def _quotes(moment: datetime, shift: int) -> list[Quote]:
    """The ticker's five quotes at `moment`: values no stored span holds (a new run each), unless repeated."""
    quotes = []
    for currency in CURRENCIES:
        value, per_usd = _minute_value(currency, 0)
        quotes.append(Quote(currency, "ticker", Value(Decimal(value) + Decimal(shift) / 10**12, per_usd), moment))
    return quotes


def _work(meter: Meter, settings: Settings, moment: datetime, shift: int) -> dict[str, int]:
    """The work of each thing a poll and a reader do: polls at `moment` (new values) and a minute later."""
    engine = meter.engine

    def poll(minutes: int) -> Outcome:
        when = moment + timedelta(minutes=minutes)
        return store_quotes(engine, settings, "ticker", _quotes(when, shift), started_at=when, entries_seen=40)

    steps: dict[str, Callable[[], object]] = {
        "poll that opens spans": lambda: poll(0),
        "poll that extends them": lambda: poll(1),
        "snapshot rebuild": lambda: LatestService(engine, settings).build(),
        "/sources": lambda: _sources(engine, settings),
        "poll and its metrics": lambda: report.observe_poll(engine, poll(2), 0.1),
        "hourly cross rate of the last twelve hours": lambda: _cross(engine),
    }
    found = {}
    for name, step in steps.items():
        with meter.measuring():
            step()
        found[name] = meter.work
    return found


def _cross(engine: Engine) -> None:
    """KGS in units of KZT: both legs change every minute, so every hour of the range is read span by span."""
    hold = timedelta(minutes=2)
    legs = (Series("KGS", "ticker", hold), Series("KZT", "ticker", hold))
    with engine.connect() as conn:
        assert series_buckets(conn, legs[0], Calendar("1h"), T0 - timedelta(hours=12), T0, legs[1])


def _sources(engine: Engine, settings: Settings) -> None:
    with Session(engine) as session:
        all_sources(session, settings)


def test_a_poll_sources_and_a_snapshot_do_the_same_work_on_a_store_ten_times_bigger(
    engine: Engine, database_url: str
) -> None:
    settings = make_settings(database_url, role="api", source_ticker_interval=60, source_ticker_max_gap=120)
    _load(engine, 1, SMALL + 1)
    measured = make_engine(database_url)
    try:
        meter = Meter(measured)
        small = _work(meter, settings, T0 + timedelta(minutes=5), 1)
        _load(engine, SMALL + 1, 10 * SMALL + 1)
        # An hour later, so that each poll is the first of its hour (as the first one was).
        big = _work(meter, settings, T0 + timedelta(minutes=65), 2)
    finally:
        measured.dispose()
    assert all(small.values()), small  # the meter counts
    grew = {name: (small[name], big[name]) for name in small if big[name] > small[name] * 1.2 + 10}
    assert not grew, f"work that grows with the history (small store, ten times bigger): {grew}"


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


def _rebuild_statements(engine: Engine, settings: Settings, seen: list[str]) -> int:
    seen.clear()
    snapshot = LatestService(engine, settings).build()
    assert snapshot.version >= 0
    return len(seen)


def test_a_snapshot_rebuild_runs_a_few_statements_whatever_the_spans_and_series(
    engine: Engine, database_url: str, statements: list[str]
) -> None:
    settings = make_settings(database_url, role="api")
    _load(engine, 1, 3)  # the ticker's five series (and KZT from two banks), a few spans each
    few = _rebuild_statements(engine, settings, statements)
    _load(engine, 3, 300)  # a hundred times the spans
    more_spans = _rebuild_statements(engine, settings, statements)
    rows = [_span(c, s, "1.5", True, T0, T0) for c in CURRENCIES for s in ("nbk", "nbkr", "nbt", "cbu", "cbt", "peg")]
    with Session(engine) as session:
        session.connection().execute(insert(RateSpan.__table__), rows)  # type: ignore[attr-defined]
        session.commit()
    more_series = _rebuild_statements(engine, settings, statements)
    # BEGIN (SQLite only: app.storage.engine issues it), the change counter, the latest spans, the values before them.
    assert few == more_spans == more_series <= 4, (few, more_spans, more_series)


def _reference(session: Session, currency: str, source: str) -> Latest | None:
    """One series' current value, read one series at a time: its latest span, then, walking back span by span,
    the last one of another rate (480.00 after 480 is the same rate: no move)."""
    series = (RateSpan.currency == currency, RateSpan.source == source)
    newest = col(RateSpan.first_seen).desc()
    spans = session.exec(select(RateSpan).where(*series).order_by(newest)).all()
    if not spans:
        return None
    span = spans[0]
    previous = next((s.published for s in spans[1:] if not s.published.same_rate(span.published)), None)
    return Latest(span.currency, span.source, span.published, span.first_seen, span.last_seen,
                  span.effective_date, Decimal(span.reported_change_pct) if span.reported_change_pct else None,
                  previous)  # fmt: skip


def test_a_snapshot_reads_each_series_as_one_series_at_a_time_did(engine: Engine) -> None:
    rng = random.Random(7)
    rows = []
    # Values repeat after gaps (the last different one lies further back), directions differ, one series never
    # changes, one has a single span.
    for currency, source, per_usd, values in [
        ("KGS", "ticker", False, ["0.01144", "0.01145", "0.011440"]),
        ("KZT", "nbk", True, ["478.77", "480", "480.00"]),
        ("KZT", "erapi", True, ["479.1"]),
        ("UZS", "cbu", True, ["12500", "12501.5"]),
    ]:
        moment = T0
        for _ in range(rng.randrange(20, 40)):
            moment += timedelta(minutes=rng.choice([1, 5, 60]))
            rows.append(_span(currency, source, rng.choice(values), per_usd, moment, moment + timedelta(seconds=30)))
    rows.append(_span("TMT", "peg", "3.5", True, T0, T0 + timedelta(days=9), T0.date()))
    with Session(engine) as session:
        session.connection().execute(insert(RateSpan.__table__), rows)  # type: ignore[attr-defined]
        session.commit()
        series = [(c, s) for c in CURRENCIES for s in ("ticker", "nbk", "erapi", "cbu", "peg")]
        expected = {key: found for key in series if (found := _reference(session, *key)) is not None}
        assert len(expected) == 5 and {v.previous is None for v in expected.values()} == {True, False}
        assert latest_of(session, series) == expected
