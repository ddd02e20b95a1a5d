"""What /sources and the metrics show, kept in source_state by the store and filled by migration 0004, equals what
the poll log, the spans and the flags say (counted and searched the way /sources once did, in `reference`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, func, insert, text
from sqlmodel import Session, col, select

from app.core import metrics
from app.core.settings import Settings
from app.domain.outcome import SUCCESSES
from app.domain.quotes import Quote
from app.domain.values import Value
from app.ingest import report
from app.ingest.pipeline import fail, process, store_quotes
from app.ingest.schema import migrate
from app.ingest.store import apply_history, rebuild_rollup
from app.read.status import all_sources
from app.sources.ticker import SPEC
from app.storage.engine import WRITE_OPTIONS, make_engine
from app.storage.models import PollLog, QuoteFlag, RateSpan
from tests.support import SEED_PAGE, assert_rollups_current, at, make_settings

T = at("2026-04-01T06:00")
SHOWN = ("last_attempt", "last_success", "last_error", "last_error_at", "last_rejections", "last_rejections_at",
         "spans_stored", "flags_raised")  # fmt: skip


def reference(session: Session, source: str) -> dict[str, Any]:
    """The fields as the poll log, the spans and the flags give them: the latest qualifying row by started_at."""

    def last(*where: Any) -> PollLog | None:
        statement = select(PollLog).where(PollLog.source == source, *where)
        return session.exec(statement.order_by(col(PollLog.started_at).desc()).limit(1)).first()

    attempt, success = last(), last(col(PollLog.outcome).in_(sorted(SUCCESSES)))
    failure, rejected = (
        last(col(PollLog.outcome).in_(("error", "rejected"))),
        last(col(PollLog.rejections).is_not(None)),
    )
    return {
        "last_attempt": attempt.started_at if attempt else None,
        "last_success": success.started_at if success else None,
        "last_error": failure.error if failure else None,
        "last_error_at": failure.started_at if failure else None,
        "last_rejections": rejected.rejections if rejected else None,
        "last_rejections_at": rejected.started_at if rejected else None,
        "spans_stored": session.exec(select(func.count()).where(RateSpan.source == source)).one(),
        "flags_raised": session.exec(select(func.count()).where(QuoteFlag.source == source)).one(),
    }


def _shown(engine: Engine, settings: Settings) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(what /sources shows, what the reference gives) for every source."""
    with Session(engine) as session:
        shown = {s["name"]: {k: s[k] for k in SHOWN} for s in all_sources(session, settings)}
        return shown, {name: reference(session, name) for name in shown}


def _kzt(source: str, value: str, moment: datetime, day: date | None = None) -> Quote:
    return Quote("KZT", source, Value(Decimal(value), per_usd=True), moment, day or moment.date())


def _polls(engine: Engine, settings: Settings) -> None:
    """Every kind of poll outcome, backfilled history that joins two spans, flags, and a late log row."""
    body = SEED_PAGE.read_bytes()
    process(engine, settings, SPEC, body, observed_at=T, started_at=T)  # ok: five spans
    fail(engine, "ticker", T + timedelta(minutes=5), "HTTP 502 from the ticker")
    conflicting = body.replace(b"KGS/USD = 0.01144", b"KGS/USD = 0.01150", 1)
    later = T + timedelta(minutes=10)
    process(engine, settings, SPEC, conflicting, observed_at=later, started_at=later)  # partial: KGS rejected
    # A poll that started before the failure but is logged after it: the failure stays the latest.
    fail(engine, "ticker", T + timedelta(minutes=3), "timed out")
    quotes = [Quote("KGS", "ticker", Value(Decimal("0.01144"), per_usd=False), later + timedelta(minutes=5))]
    store_quotes(engine, settings, "ticker", quotes, started_at=later + timedelta(minutes=5), entries_seen=1,
                 unchanged=True)  # fmt: skip
    for hours, value in ((0, "478.77"), (1, "578.77")):  # a jump: stored and flagged
        moment = T + timedelta(hours=hours)
        store_quotes(engine, settings, "nbk", [_kzt("nbk", value, moment)], started_at=moment, entries_seen=1)
    # Another day's rates: nothing stored, the poll rejected with its reasons.
    wrong = T + timedelta(hours=2)
    store_quotes(engine, settings, "nbk", [_kzt("nbk", "480", wrong, date(2026, 3, 1))], started_at=wrong,
                 entries_seen=1, expected_day=wrong.date())  # fmt: skip
    # Backfilled days: two spans of 470, then the day between them joins them into one.
    gap = timedelta(days=1, hours=1)
    days = [at("2026-03-20T06:00"), at("2026-03-22T06:00"), at("2026-03-21T06:00")]
    for moment in days:
        apply_history(engine, "nbk", [_kzt("nbk", "470", moment)], days={moment.date(): "ok"}, max_gap=gap)


def test_sources_shows_what_the_log_the_spans_and_the_flags_say(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, role="api")
    _polls(engine, settings)
    shown, expected = _shown(engine, settings)
    assert shown == expected
    ticker, nbk = shown["ticker"], shown["nbk"]
    assert ticker["last_error"] == "HTTP 502 from the ticker" and ticker["spans_stored"] == 5
    assert ticker["last_rejections"] is not None and "conflicting values" in ticker["last_rejections"]
    assert nbk["spans_stored"] == 3  # 478.77, 578.77 and the joined 470
    # 478.77 disagrees with the ticker's KZT (about 497.5 per USD, in force then); 578.77 jumped (the ticker's value,
    # last seen 50 minutes before and held for 15, is no longer anyone's word against it).
    assert nbk["flags_raised"] == 2
    assert nbk["last_error"] is not None and "rates for 2026-03-01" in nbk["last_error"]
    assert shown["cbu"] == dict.fromkeys(SHOWN) | {"spans_stored": 0, "flags_raised": 0}


def test_the_metrics_read_the_counts_the_store_keeps(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, role="api")
    _polls(engine, settings)
    metrics.ROWS.labels("nbk").set(-1)
    metrics.LAST_SUCCESS.labels("nbk").set(-1)
    report.seed(engine, ["nbk", "cbu"])
    assert metrics.ROWS.labels("nbk")._value.get() == 3
    assert metrics.ROWS.labels("cbu")._value.get() == 0
    assert metrics.LAST_SUCCESS.labels("nbk")._value.get() == (T + timedelta(hours=1)).timestamp()
    moment = T + timedelta(hours=3)
    outcome = store_quotes(engine, settings, "nbk", [_kzt("nbk", "579", moment)], started_at=moment, entries_seen=1)
    report.observe_poll(engine, outcome, 0.1)
    assert metrics.ROWS.labels("nbk")._value.get() == 4


def test_a_rebuild_after_a_bulk_load_recounts_spans_and_flags(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, role="api")
    _polls(engine, settings)
    with engine.begin() as conn:
        conn.execute(insert(RateSpan.__table__), [_span("cbu", "UZS", m) for m in range(3)])  # type: ignore[attr-defined]
        conn.execute(text("DELETE FROM rate_span WHERE source = 'ticker' AND currency = 'KGS'"))
        conn.execute(text("DELETE FROM quote_flag WHERE source = 'nbk'"))
    rebuild_rollup(engine)
    shown, expected = _shown(engine, settings)
    assert shown == expected
    assert [shown[s]["spans_stored"] for s in ("cbu", "ticker", "nbk")] == [3, 4, 3]
    assert shown["nbk"]["flags_raised"] == 0


def _at_revision(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", "app:migrations")
    with engine.connect().execution_options(**WRITE_OPTIONS) as conn, conn.begin():
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def _log(
    source: str, minutes: int, outcome: str, error: str | None = None, rejections: str | None = None
) -> dict[str, Any]:
    moment = T + timedelta(minutes=minutes)
    return {"source": source, "started_at": moment, "finished_at": moment, "outcome": outcome, "poller": "h:1",
            "error": error, "entries_seen": 1, "spans_opened": 0, "spans_extended": 0, "rejections": rejections,
            "flags": None}  # fmt: skip


def _span(source: str, currency: str, minutes: int) -> dict[str, Any]:
    moment = T + timedelta(minutes=minutes)
    return {"currency": currency, "source": source, "value": "1.5", "per_usd": True, "first_seen": moment,
            "last_seen": moment, "observations": 1, "effective_date": None, "reported_change_pct": None}  # fmt: skip


def test_migration_0004_fills_the_counts_and_latest_outcomes_from_stored_data(database_url: str) -> None:
    engine = make_engine(database_url)
    # Logged out of order: the latest of each kind is the one that started last, not the one written last.
    logs = [
        _log("ticker", 30, "ok"), _log("ticker", 10, "error", error="HTTP 502"),
        _log("ticker", 20, "partial", rejections="KGS: conflicting values"), _log("ticker", 0, "ok"),
        _log("ticker", 25, "rejected", error="nothing stored", rejections="KZT: another day"),
        _log("ticker", 5, "error", error="older"), _log("nbk", 0, "error", error="HTTP 404"),
        _log("cbu", 0, "unchanged"),
    ]  # fmt: skip
    spans = [_span("ticker", c, m) for c in ("KGS", "KZT") for m in range(0, 30, 10)] + [_span("erapi", "UZS", 0)]
    flags = [{"source": "ticker", "currency": "KZT", "raised_at": T, "kind": "jump", "detail": "moved"}] * 2
    try:
        _at_revision(engine, "0003")
        with engine.begin() as conn:
            conn.execute(insert(PollLog.__table__), logs)  # type: ignore[attr-defined]
            conn.execute(insert(RateSpan.__table__), spans)  # type: ignore[attr-defined]
            conn.execute(insert(QuoteFlag.__table__), flags)  # type: ignore[attr-defined]
            # The poller's row for nbk, as revision 0003 has it: its failures and back-off stay.
            conn.execute(
                text("INSERT INTO source_state (source, consecutive_failures, backoff_until, updated_at) "
                     "VALUES ('nbk', 3, :until, :now)"),
                {"until": T + timedelta(hours=1), "now": T},
            )  # fmt: skip
        migrate(engine)  # to head, the rollups refilled after 0005 to 0007 as a deployment's are
        assert_rollups_current(engine)
        with engine.connect() as conn:
            columns = "spans_stored, flags_raised, last_error, last_rejections, consecutive_failures"
            rows = conn.execute(text(f"SELECT source, {columns} FROM source_state ORDER BY source")).all()
        assert [tuple(row) for row in rows] == [
            ("cbu", 0, 0, None, None, 0),
            ("erapi", 1, 0, None, None, 0),
            ("nbk", 0, 0, "HTTP 404", None, 3),
            ("ticker", 6, 2, "nothing stored", "KZT: another day", 0),
        ]
        settings = make_settings(database_url, role="api")
        shown, expected = _shown(engine, settings)
        assert shown == expected
        assert shown["ticker"] == {
            "last_attempt": T + timedelta(minutes=30),
            "last_success": T + timedelta(minutes=30),
            "last_error": "nothing stored",
            "last_error_at": T + timedelta(minutes=25),
            "last_rejections": "KZT: another day",
            "last_rejections_at": T + timedelta(minutes=25),
            "spans_stored": 6,
            "flags_raised": 2,
        }
        assert shown["erapi"]["spans_stored"] == 1 and shown["erapi"]["last_attempt"] is None
        with Session(engine) as session:
            nbk = next(s for s in all_sources(session, settings) if s["name"] == "nbk")
        assert (nbk["consecutive_failures"], nbk["backoff_until"]) == (3, T + timedelta(hours=1))
        assert (nbk["last_error"], nbk["spans_stored"]) == ("HTTP 404", 0)
        # The store carries on from the filled counts.
        when = T + timedelta(hours=1)
        process(engine, settings, SPEC, SEED_PAGE.read_bytes(), observed_at=when, started_at=when)
        shown, expected = _shown(engine, settings)
        assert shown == expected and shown["ticker"]["spans_stored"] == 11
    finally:
        engine.dispose()
