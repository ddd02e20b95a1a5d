"""Seed page -> spans, through the same pipeline the poller uses, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from app.cli import main
from app.core.settings import Settings
from app.ingest.pipeline import Outcome, process
from app.sources.ticker import SPEC
from app.storage.models import PollLog, RateAnnouncement, RateSpan
from tests.support import FIXTURES, SEED_PAGE, at

START = at("2026-02-23T10:00")


def ingest(engine: Engine, settings: Settings, body: bytes, when: datetime) -> Outcome:
    return process(engine, settings, SPEC, body, observed_at=when, started_at=when)


def spans(engine: Engine) -> list[RateSpan]:
    with Session(engine) as session:
        return list(session.exec(select(RateSpan).order_by(col(RateSpan.id))))


def logs(engine: Engine) -> list[PollLog]:
    with Session(engine) as session:
        return list(session.exec(select(PollLog).order_by(col(PollLog.id))))


def test_cli_ingest_of_the_seed_page_stores_five_spans(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FX_DATABASE_URL", database_url)
    assert main(["ingest", str(SEED_PAGE), "--source", "ticker", "--observed-at", "2026-02-23T10:00:00Z"]) == 0
    assert "ticker: ok, 40 entries, 5 spans opened, 0 extended" in capsys.readouterr().out
    stored = {s.currency: (s.value, s.reported_change_pct, s.observations, s.first_seen) for s in spans(engine)}
    assert stored == {
        "KGS": ("0.01144", "0", 1, START),
        "KZT": ("0.00201", "0", 1, START),
        "TJS": ("0.10567", "-0.09", 1, START),
        "UZS": ("0.00008", "0", 1, START),
        "TMT": ("0.28571", "0", 1, START),
    }
    moments = [m for s in spans(engine) for m in (s.first_seen, s.last_seen)]
    assert all(m.utcoffset() == timedelta(0) for m in moments)


def test_hundred_more_ingests_a_minute_apart_extend_the_same_five_spans(engine: Engine, settings: Settings) -> None:
    body = SEED_PAGE.read_bytes()
    for minute in range(101):
        ingest(engine, settings, body, START + timedelta(minutes=minute))
    stored = spans(engine)
    assert len(stored) == 5
    assert {s.observations for s in stored} == {101}
    assert {s.first_seen for s in stored} == {START}
    assert {s.last_seen for s in stored} == {START + timedelta(minutes=100)}
    assert len(logs(engine)) == 101


def test_a_changed_value_opens_a_sixth_span(engine: Engine, settings: Settings) -> None:
    body = SEED_PAGE.read_bytes()
    ingest(engine, settings, body, START)
    outcome = ingest(engine, settings, body.replace(b"0.01144", b"0.01145"), START + timedelta(minutes=5))
    assert outcome.result is not None
    assert (outcome.result.opened, outcome.result.extended) == (1, 4)
    kgs = [s for s in spans(engine) if s.currency == "KGS"]
    assert [(s.value, s.first_seen, s.last_seen) for s in kgs] == [
        ("0.01144", START, START),
        ("0.01145", START + timedelta(minutes=5), START + timedelta(minutes=5)),
    ]


def test_reapplying_a_snapshot_changes_nothing(engine: Engine, settings: Settings) -> None:
    body = SEED_PAGE.read_bytes()
    ingest(engine, settings, body, START)
    before = [(s.id, s.observations, s.last_seen) for s in spans(engine)]
    outcome = ingest(engine, settings, body, START)
    assert outcome.result is not None and outcome.result.ignored == 5
    assert [(s.id, s.observations, s.last_seen) for s in spans(engine)] == before


def test_a_gap_longer_than_allowed_opens_a_new_span(engine: Engine, settings: Settings) -> None:
    body = SEED_PAGE.read_bytes()
    ingest(engine, settings, body, START)
    ingest(engine, settings, body, START + timedelta(seconds=settings.source_max_gap("ticker") + 1))
    assert len(spans(engine)) == 10


def test_conflicting_duplicates_reject_that_pair_and_are_logged(engine: Engine, settings: Settings) -> None:
    page = b"KGS/USD = 0.01144 0% KZT/USD = 0.00201 0% KGS/USD = 0.01150 0%"
    outcome = ingest(engine, settings, page, START)
    assert [s.currency for s in spans(engine)] == ["KZT"]
    (row,) = logs(engine)
    assert (row.outcome, row.entries_seen, row.spans_opened) == ("partial", 3, 1)
    assert row.rejections == "KGS from ticker: conflicting values in one snapshot (0.01144, 0.01150)"
    assert row.error is None
    assert outcome.ok


def test_unconfigured_currencies_are_ignored(engine: Engine, database_url: str) -> None:
    from tests.support import make_settings

    settings = make_settings(database_url, currencies="KZT,UZS")
    ingest(engine, settings, SEED_PAGE.read_bytes(), START)
    assert sorted(s.currency for s in spans(engine)) == ["KZT", "UZS"]


def test_an_unparseable_page_stores_nothing_and_logs_why(engine: Engine, settings: Settings) -> None:
    ingest(engine, settings, SEED_PAGE.read_bytes(), START)
    outcome = ingest(engine, settings, b"<html>maintenance</html>", START + timedelta(minutes=1))
    assert not outcome.ok
    assert len(spans(engine)) == 5
    last = logs(engine)[-1]
    assert last.outcome == "error"
    assert last.error is not None and "no `CCC/USD = rate` entries" in last.error


def test_a_failed_store_leaves_no_half_snapshot(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.ingest.store as store

    ingest(engine, settings, SEED_PAGE.read_bytes(), START)
    real = store._apply_quote
    calls = 0

    def failing(session: Session, quote: object, *args: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("disk full")
        return real(session, quote, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_apply_quote", failing)
    with pytest.raises(RuntimeError):
        ingest(engine, settings, SEED_PAGE.read_bytes(), START + timedelta(minutes=1))
    assert {s.observations for s in spans(engine)} == {1}
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(PollLog)).one() == 1


def test_exact_values_survive_the_round_trip(engine: Engine, settings: Settings) -> None:
    ingest(engine, settings, b"UZS/USD = 0.0000812345678901 0%", START)
    (span,) = spans(engine)
    assert span.in_base == Decimal("0.0000812345678901")


def test_cli_ingest_of_a_saved_page_holds_back_a_rate_announced_for_tomorrow(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """NBKR's daily.xml saved at 18:00 in Bishkek on 23 May carries the rate for the 24th: ingested as seen then,
    it is announced, not put in force a day early."""
    monkeypatch.setenv("FX_DATABASE_URL", database_url)
    page = str(FIXTURES / "nbkr_daily_2026-05-24.xml")
    assert main(["ingest", page, "--source", "nbkr", "--observed-at", "2026-05-23T12:00:00Z"]) == 0
    assert "nbkr: ok, 5 entries, 0 spans opened, 0 extended, 5 announced for a later day" in capsys.readouterr().out
    assert [s for s in spans(engine) if s.source == "nbkr"] == []
    with Session(engine) as session:
        (announced,) = session.exec(select(RateAnnouncement).where(RateAnnouncement.currency == "KGS")).all()
    assert (announced.currency, announced.value, announced.effective_date) == ("KGS", "87.4500", date(2026, 5, 24))
