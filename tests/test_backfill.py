"""`fx-ticker backfill` against a local server: a month of history, resumable and idempotent."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.cli import main
from app.storage.models import RateSpan
from tests.support import FIXTURES, Upstream

NBK = (FIXTURES / "nbk_get_rates_2026-04-01.xml").read_bytes()


def nbk_day(day: date, usd: str) -> bytes:
    body = NBK.replace(b"<date>01.04.2026</date>", f"<date>{day:%d.%m.%Y}</date>".encode())
    return body.replace(b"<description>478.77</description>", f"<description>{usd}</description>".encode())


def march_rate(day: date) -> str:
    return "480.00" if 11 <= day.day <= 20 else "478.77"


def spans(engine: Engine, source: str, currency: str = "KZT") -> list[tuple[str, date, date, int]]:
    with Session(engine) as session:
        mine = (RateSpan.source == source, RateSpan.currency == currency)
        rows = session.exec(select(RateSpan).where(*mine).order_by(col(RateSpan.first_seen)))
        return [(s.value, s.first_seen.date(), s.last_seen.date(), s.observations) for s in rows]


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FX_DATABASE_URL", database_url)
    monkeypatch.setenv("FX_BACKFILL_DELAY", "0")


def test_a_month_of_nbk_then_again(
    engine: Engine, cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Upstream() as upstream:
        monkeypatch.setenv("FX_SOURCE_NBK_URL", upstream.url("/nbk?fdate={date:%d.%m.%Y}"))
        day = date(2026, 3, 1)
        while day.month == 3:
            if day.weekday() < 5:  # the bank publishes on working days; weekends answer 404
                upstream.serve(f"/nbk?fdate={day:%d.%m.%Y}", nbk_day(day, march_rate(day)))
            day += timedelta(days=1)
        assert main(["backfill", "--source", "nbk", "--from", "2026-03-01", "--to", "2026-03-31"]) == 0
        first_run = len(upstream.requests)
        stored = spans(engine, "nbk")
        out = capsys.readouterr().out
        assert main(["backfill", "--source", "nbk", "--from", "2026-03-01", "--to", "2026-03-31"]) == 0
        assert len(upstream.requests) == first_run  # resumable: nothing is fetched twice
    assert first_run == 31
    assert "nbk: 31 days asked, 0 already stored, 22 with rates, 9 without" in out
    # Consecutive working days with one rate are one span; weekends do not break it.
    assert stored == [
        ("478.77", date(2026, 3, 2), date(2026, 3, 10), 7),
        ("480.00", date(2026, 3, 11), date(2026, 3, 20), 8),
        ("478.77", date(2026, 3, 23), date(2026, 3, 31), 7),
    ]
    assert spans(engine, "nbk") == stored  # idempotent
    # Every served currency of the table comes with it: the rouble, through the dollar row of each day.
    assert spans(engine, "nbk", "RUB") == [
        ("478.77/5.87", date(2026, 3, 2), date(2026, 3, 10), 7),
        ("480.00/5.87", date(2026, 3, 11), date(2026, 3, 20), 8),
        ("478.77/5.87", date(2026, 3, 23), date(2026, 3, 31), 7),
    ]
    assert "31 days asked, 31 already stored" in capsys.readouterr().out


def test_an_interrupted_backfill_resumes_and_joins_up(
    engine: Engine, cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second half first, then the whole month: history lands where it belongs and spans join."""
    with Upstream() as upstream:
        monkeypatch.setenv("FX_SOURCE_NBK_URL", upstream.url("/nbk?fdate={date:%d.%m.%Y}"))
        for n in range(31):
            day = date(2026, 3, 1) + timedelta(days=n)
            upstream.serve(f"/nbk?fdate={day:%d.%m.%Y}", nbk_day(day, "478.77"))
        assert main(["backfill", "--source", "nbk", "--from", "2026-03-16", "--to", "2026-03-31"]) == 0
        assert main(["backfill", "--source", "nbk", "--from", "2026-03-01", "--to", "2026-03-31"]) == 0
        assert len(upstream.requests) == 31
    assert spans(engine, "nbk") == [("478.77", date(2026, 3, 1), date(2026, 3, 31), 31)]


def test_failed_days_are_reported_and_retried(
    engine: Engine, cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Upstream() as upstream:
        monkeypatch.setenv("FX_SOURCE_NBK_URL", upstream.url("/nbk?fdate={date:%d.%m.%Y}"))
        upstream.serve("/nbk?fdate=02.03.2026", nbk_day(date(2026, 3, 2), "478.77"))
        upstream.serve("/nbk?fdate=03.03.2026", b"busy", status=503)
        assert main(["backfill", "--source", "nbk", "--from", "2026-03-02", "--to", "2026-03-03"]) == 1
        assert "failed: 2026-03-03: HTTP 503 from" in capsys.readouterr().out
        upstream.serve("/nbk?fdate=03.03.2026", nbk_day(date(2026, 3, 3), "478.77"))
        assert main(["backfill", "--source", "nbk", "--from", "2026-03-02", "--to", "2026-03-03"]) == 0
    assert spans(engine, "nbk") == [("478.77", date(2026, 3, 2), date(2026, 3, 3), 2)]


def test_nbkr_history_page(engine: Engine, cli_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    page = (FIXTURES / "nbkr_history_page_2005-06.html").read_bytes()
    with Upstream() as upstream:
        monkeypatch.setenv("FX_SOURCE_NBKR_HISTORY_URL", upstream.url("/nbkr?from={start:%d.%m.%Y}&to={end:%d.%m.%Y}"))
        upstream.serve("/nbkr?from=01.06.2005&to=30.06.2005", page)
        assert main(["backfill", "--source", "nbkr", "--from", "2005-06-01", "--to", "2005-06-30"]) == 0
    assert [(v, first) for v, first, _, _ in spans(engine, "nbkr", "KGS")] == [
        ("40.9879", date(2005, 6, 4)),
        ("41.0511", date(2005, 6, 11)),
        ("41.0685", date(2005, 6, 18)),
        ("40.9614", date(2005, 6, 25)),
    ]


def test_years_of_the_peg_are_one_span(engine: Engine, cli_env: None) -> None:
    assert main(["backfill", "--source", "peg", "--from", "2015-01-01", "--to", "2025-12-31"]) == 0
    assert spans(engine, "peg", "TMT") == [("3.50", date(2015, 1, 1), date(2025, 12, 31), 4018)]


def test_bad_backfill_arguments(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backfill", "--source", "nbk", "--from", "2026-03-10", "--to", "2026-03-01"]) == 2
    assert "--from 2026-03-10 is after --to 2026-03-01" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["backfill", "--source", "ticker", "--from", "2026-03-01"])
    assert "invalid choice: 'ticker'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["backfill", "--source", "nbk", "--from", "March"])
    assert "--from: not a date: 'March'" in capsys.readouterr().err


def test_a_currency_added_later_is_loaded_with_again(
    engine: Engine, cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Upstream() as upstream:
        monkeypatch.setenv("FX_SOURCE_NBK_URL", upstream.url("/nbk?fdate={date:%d.%m.%Y}"))
        for n in range(5):
            day = date(2026, 3, 2) + timedelta(days=n)
            upstream.serve(f"/nbk?fdate={day:%d.%m.%Y}", nbk_day(day, "478.77"))
        monkeypatch.setenv("FX_CURRENCIES", "KZT")
        assert main(["backfill", "--source", "nbk", "--from", "2026-03-02", "--to", "2026-03-06"]) == 0
        monkeypatch.setenv("FX_CURRENCIES", "KZT,RUB")
        assert main(["backfill", "--source", "nbk", "--from", "2026-03-02", "--to", "2026-03-06"]) == 0
        assert spans(engine, "nbk", "RUB") == []  # those days were fetched: a rerun skips them
        assert main(["backfill", "--source", "nbk", "--from", "2026-03-02", "--to", "2026-03-06", "--again"]) == 0
        assert len(upstream.requests) == 10
    assert spans(engine, "nbk", "RUB") == [("478.77/5.87", date(2026, 3, 2), date(2026, 3, 6), 5)]
    assert spans(engine, "nbk") == [("478.77", date(2026, 3, 2), date(2026, 3, 6), 5)]  # unchanged
    assert "5 days asked, 0 already stored, 5 with rates" in capsys.readouterr().out.splitlines()[-1]
