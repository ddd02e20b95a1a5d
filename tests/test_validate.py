"""Validation before storing, and the flags a stored quote may raise (and where they show)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.api.app import create_app
from app.core.clock import utcnow
from app.domain.quotes import Quote
from app.domain.validate import jump_flag, rounding_pct, screen, spread_flags
from app.domain.values import Value
from app.ingest.pipeline import store_quotes
from app.storage.models import PollLog, QuoteFlag
from tests.support import at, make_settings

NOW = at("2026-04-01T06:00")


def quote(currency: str = "KZT", value: str = "478.77", *, source: str = "nbk", per_usd: bool = True,
          effective: date | None = date(2026, 4, 1)) -> Quote:  # fmt: skip
    return Quote(currency, source, Value(Decimal(value), per_usd), NOW, effective)


def test_screen_rejects_what_must_not_be_stored() -> None:
    quotes = [
        quote(),
        quote("XYZ"),
        quote(value="0"),
        quote(value="NaN"),
        quote(effective=date(2026, 4, 4)),
        quote("UZS", "12194.21", source="cbu", effective=date(2026, 4, 3)),
    ]
    screening = screen(quotes, today=date(2026, 4, 1))
    kept, rejected = screening.kept, screening.rejected
    assert kept == [quotes[0], quotes[5]]  # two days ahead is allowed: banks publish tomorrow's rate
    assert [r.reason for r in rejected] == [
        "unknown currency",
        "rate 0 is not a positive finite number",
        "rate NaN is not a positive finite number",
        "effective date 2026-04-04 is more than 2 days ahead",
    ]


def test_screen_rejects_another_day_than_asked() -> None:
    screening = screen([quote()], today=date(2026, 4, 2), expected_day=date(2026, 4, 2))
    assert screening.kept == []
    assert screening.rejected[0].reason == "feed answered with rates for 2026-04-01 when asked for 2026-04-02"


def test_a_rate_for_after_the_publisher_s_today_is_announced_not_kept() -> None:
    """NBKR publishes tomorrow's rate in the afternoon: it is set apart, neither stored as in force nor refused."""
    today, tomorrow = quote(effective=date(2026, 4, 1)), quote(value="478.90", effective=date(2026, 4, 2))
    screening = screen([today, tomorrow], today=date(2026, 4, 1), not_after=date(2026, 4, 1))
    assert (screening.kept, screening.announced, screening.rejected) == ([today], [tomorrow], [])
    history = screen([today, tomorrow], today=date(2026, 4, 1))  # no publisher's today (history): both in force
    assert history.kept == [today, tomorrow] and history.announced == []


def test_rounding_of_a_five_decimal_ticker() -> None:
    assert rounding_pct(Decimal("0.00008")) == Decimal("6.25")
    assert rounding_pct(Decimal("478.77")) < Decimal("0.002")


def test_jump_flag() -> None:
    assert jump_flag(quote(value="478.77"), Value(Decimal("475.09"), per_usd=True), Decimal(5)) is None
    flag = jump_flag(quote(value="578.77"), Value(Decimal("478.77"), per_usd=True), Decimal(5))
    assert flag is not None and flag.kind == "jump" and "moved 17.28%" in flag.detail


def test_spread_allows_for_the_tickers_rounding() -> None:
    ticker = quote("UZS", "0.00008", source="ticker", per_usd=False, effective=None)
    bank = Value(Decimal("12194.21"), per_usd=True)  # 2.4 % away: within rounding
    assert spread_flags(ticker, {"cbu": bank}, Decimal(3)) == []
    wrong = Value(Decimal("15000"), per_usd=True)  # 20 % away
    (flag,) = spread_flags(ticker, {"cbu": wrong}, Decimal(3))
    assert flag.kind == "spread" and "from cbu" in flag.detail


def test_flags_are_stored_with_the_quote_and_shown(engine: Engine, database_url: str) -> None:
    settings = make_settings(database_url, role="api")
    now = utcnow()

    def store(source: str, value: str, minutes: int, per_usd: bool = True) -> None:
        when = now + timedelta(minutes=minutes)
        q = Quote("KZT", source, Value(Decimal(value), per_usd), when, when.date() if per_usd else None)
        store_quotes(engine, settings, source, [q], started_at=when, entries_seen=1)

    store("nbk", "478.77", 0)
    store("nbk", "578.77", 1)  # a 17 % jump: stored, flagged
    store("ticker", "0.00201", 2, per_usd=False)  # 16 % away from 578.77 per USD: flagged
    with Session(engine) as session:
        flags = session.exec(select(QuoteFlag)).all()
        logs = session.exec(select(PollLog)).all()
    assert [(f.source, f.kind) for f in flags] == [("nbk", "jump"), ("ticker", "spread")]
    assert logs[1].flags is not None and "moved 17.28%" in logs[1].flags
    with TestClient(create_app(settings)) as client:
        sources = {s["name"]: s for s in client.get("/sources").json()["sources"]}
        kzt = client.get("/rates/latest", params={"currencies": "KZT"}).json()["rates"][0]
    assert sources["nbk"]["flags_raised"] == 1
    assert sources["nbk"]["recent_flags"][0]["kind"] == "jump"
    assert kzt["rate"] == 578.77  # flagged, never dropped
