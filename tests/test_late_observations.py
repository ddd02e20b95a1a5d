"""An observation older than its series' latest sighting (saved pages of an archive loaded in any order, a poll
whose write was delayed) is placed where it belongs by backfill's rules, in the poll's one transaction, with every
rollup kept current; what cannot be stored is reported. Through the pipeline the CLI uses, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete
from sqlmodel import Session, col, func, select

from app.api.app import create_app
from app.cli import main
from app.core.settings import Settings
from app.domain.quotes import Quote
from app.domain.values import Value
from app.ingest.pipeline import Outcome, process, store_quotes
from app.sources.ticker import SPEC
from app.storage.models import (
    PollLog,
    QuoteFlag,
    RatePairRollup,
    RatePairRollupDay,
    RateRollup,
    RateRollupDay,
    RateSpan,
    SourceState,
)
from tests.support import SEED_PAGE, assert_rollups_current, at

GAP = timedelta(minutes=15)  # the ticker's MAX_GAP: three of its five-minute intervals
# Each currency's entry on the recorded page: its rate and the change printed after it.
SEED = {"KGS": "0.01144 0%", "KZT": "0.00201 0%", "TJS": "0.10567 -0.09%", "UZS": "0.00008 0%", "TMT": "0.28571 0%"}


def page(**entries: str) -> bytes:
    """The recorded ticker page with the entries of some currencies changed (`KGS="0.01160 0.5%"`), every repeat."""
    body = SEED_PAGE.read_bytes()
    for currency, entry in entries.items():
        body = body.replace(f"{currency}/USD = {SEED[currency]}".encode(), f"{currency}/USD = {entry}".encode())
    return body


def ingest(engine: Engine, settings: Settings, body: bytes, when: datetime) -> Outcome:
    return process(engine, settings, SPEC, body, observed_at=when, started_at=when)


def summary(engine: Engine, settings: Settings, body: bytes, when: datetime) -> str:
    outcome = ingest(engine, settings, body, when)
    assert_rollups_current(engine)
    return outcome.summary()


def spans(engine: Engine, currency: str | None = None) -> list[tuple[Any, ...]]:
    """(currency, value, first_seen, last_seen, observations, effective_date, printed change) of every span."""
    with Session(engine) as session:
        rows = session.exec(select(RateSpan).order_by(col(RateSpan.currency), col(RateSpan.first_seen)))
        return [
            (s.currency, s.value, s.first_seen, s.last_seen, s.observations, s.effective_date, s.reported_change_pct)
            for s in rows
            if currency in (None, s.currency)
        ]


def kgs(engine: Engine) -> list[tuple[str, datetime, datetime, int]]:
    return [(value, first, last, seen) for _, value, first, last, seen, _, _ in spans(engine, "KGS")]


def spans_stored(engine: Engine) -> int:
    with Session(engine) as session:
        state = session.get(SourceState, "ticker")
        return state.spans_stored if state is not None else 0


# --- the issue ------------------------------------------------------------------------------------------------


Cli = Callable[[bytes, str], str]


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    """`fx-ticker ingest` of a saved page at a moment, as typed: what it printed."""
    monkeypatch.setenv("FX_DATABASE_URL", database_url)

    def run(body: bytes, when: str) -> str:
        saved = tmp_path / f"page-{when.replace(':', '')}.txt"
        saved.write_bytes(body)
        assert main(["ingest", str(saved), "--source", "ticker", "--observed-at", when]) == 0
        return capsys.readouterr().out.strip()

    return run


def test_a_late_page_between_two_spans_is_stored_in_its_place(engine: Engine, cli: Cli) -> None:
    """Issue 17: KGS 0.01160 seen at 12:00 between 0.01155 (06:00) and 0.01144 (the next day) was dropped and
    called ok."""
    cli(page(KGS="0.01155 0%"), "2026-12-02T06:00:00Z")
    cli(page(), "2026-12-03T06:00:00Z")
    assert cli(page(KGS="0.01160 0%"), "2026-12-02T12:00:00Z") == "ticker: ok, 40 entries, 5 spans opened, 0 extended"
    assert kgs(engine) == [
        ("0.01155", at("2026-12-02T06:00"), at("2026-12-02T06:00"), 1),
        ("0.01160", at("2026-12-02T12:00"), at("2026-12-02T12:00"), 1),
        ("0.01144", at("2026-12-03T06:00"), at("2026-12-03T06:00"), 1),
    ]
    assert spans_stored(engine) == 15
    assert_rollups_current(engine)


# --- the placement rules --------------------------------------------------------------------------------------


def test_late_pages_bridge_prepend_and_extend(engine: Engine, settings: Settings) -> None:
    ingest(engine, settings, page(), at("2026-02-23T10:00"))
    ingest(engine, settings, page(), at("2026-02-23T10:30"))  # 30 minutes on: a gap, so new spans
    assert spans_stored(engine) == 10
    # 10:15 is within the gap of both: the two spans of each currency become one.
    assert summary(engine, settings, page(), at("2026-02-23T10:15")) == (
        "ticker: ok, 40 entries, 0 spans opened, 5 extended"
    )
    assert kgs(engine) == [("0.01144", at("2026-02-23T10:00"), at("2026-02-23T10:30"), 3)]
    assert spans_stored(engine) == 5
    # Ten minutes before the first sighting: each span begins earlier.
    assert summary(engine, settings, page(), at("2026-02-23T09:50")).endswith("0 spans opened, 5 extended")
    # A new KGS value at 11:00; then a page of 10:40 continues the spans before it.
    ingest(engine, settings, page(KGS="0.01150 0.52%"), at("2026-02-23T11:00"))
    assert summary(engine, settings, page(), at("2026-02-23T10:40")).endswith("0 spans opened, 5 extended")
    assert kgs(engine) == [
        ("0.01144", at("2026-02-23T09:50"), at("2026-02-23T10:40"), 5),
        ("0.01150", at("2026-02-23T11:00"), at("2026-02-23T11:00"), 1),
    ]
    assert spans_stored(engine) == 10


def test_a_page_already_stored_stores_nothing_and_says_so(engine: Engine, settings: Settings) -> None:
    for minute in (0, 5, 10):
        ingest(engine, settings, page(), at("2026-02-23T10:00") + timedelta(minutes=minute))
    before = spans(engine)
    # The latest page again, and the first: sightings each span already holds.
    for again in ("2026-02-23T10:10", "2026-02-23T10:00"):
        assert summary(engine, settings, page(), at(again)) == (
            "ticker: ok, 40 entries, 0 spans opened, 0 extended, 5 already stored"
        )
    assert spans(engine) == before
    assert {seen for *_, seen, _, _ in before} == {3}


def test_a_page_inside_a_span_counts_as_one_more_sighting(engine: Engine, settings: Settings) -> None:
    """A span keeps its first and last sightings, not those between: a page from between them that was never
    stored is one the span has not counted, as it would have been had the pages come in order."""
    ingest(engine, settings, page(), at("2026-02-23T10:00"))
    ingest(engine, settings, page(), at("2026-02-23T10:10"))
    assert summary(engine, settings, page(), at("2026-02-23T10:05")).endswith("0 spans opened, 5 extended")
    assert kgs(engine) == [("0.01144", at("2026-02-23T10:00"), at("2026-02-23T10:10"), 3)]


def test_a_late_value_inside_a_span_of_another_is_refused_and_reported(
    engine: Engine, database_url: str, settings: Settings, cli: Cli
) -> None:
    cli(page(), "2026-02-23T10:00:00Z")
    cli(page(), "2026-02-23T10:10:00Z")
    reason = (
        "KGS from ticker: 0.01150 seen at 2026-02-23T10:05:00Z falls inside a stored span of 0.01144 "
        "(2026-02-23T10:00:00Z to 2026-02-23T10:10:00Z)"
    )
    assert cli(page(KGS="0.01150 0.52%"), "2026-02-23T10:05:00Z") == (
        f"ticker: partial, 40 entries, 0 spans opened, 4 extended; rejected: {reason}"
    )
    assert kgs(engine) == [("0.01144", at("2026-02-23T10:00"), at("2026-02-23T10:10"), 2)]
    assert_rollups_current(engine)
    with Session(engine) as session:
        log = session.exec(select(PollLog).order_by(col(PollLog.id).desc())).first()
    assert log is not None
    assert (log.outcome, log.spans_opened, log.spans_extended, log.rejections) == ("partial", 0, 4, reason)
    with TestClient(create_app(settings)) as client:
        (ticker,) = [s for s in client.get("/sources").json()["sources"] if s["name"] == "ticker"]
    assert ticker["last_rejections"] == reason
    assert ticker["last_success"] == ticker["last_rejections_at"]
    assert ticker["spans_stored"] == 5


# --- flags ------------------------------------------------------------------------------------------------------


def flags(engine: Engine) -> list[tuple[str, str, datetime, str]]:
    with Session(engine) as session:
        rows = session.exec(select(QuoteFlag).order_by(col(QuoteFlag.id)))
        return [(f.currency, f.kind, f.raised_at, f.detail) for f in rows]


def test_a_late_value_is_compared_with_the_value_before_it_not_the_newest(engine: Engine, settings: Settings) -> None:
    ingest(engine, settings, page(), at("2026-02-23T10:00"))
    ingest(engine, settings, page(KGS="0.01300 13.64%"), at("2026-02-23T11:00"))
    assert [kind for _, kind, _, _ in flags(engine)] == ["jump"]
    # 0.09% from 0.01144 before it (11.9% from the newest 0.01300): no jump.
    assert "flagged" not in summary(engine, settings, page(KGS="0.01145 0.09%"), at("2026-02-23T10:30"))
    # 9.17% from 0.01145 before it (3.85% from the newest): a jump.
    late = summary(engine, settings, page(KGS="0.01250 9.17%"), at("2026-02-23T10:40"))
    assert late.endswith("; flagged: KGS from ticker: moved 9.17% from its previous value 0.01145 (threshold 5%)")
    assert flags(engine)[1:] == [
        ("KGS", "jump", at("2026-02-23T10:40"), "moved 9.17% from its previous value 0.01145 (threshold 5%)")
    ]


def test_a_late_value_is_compared_with_the_other_sources_in_force_then(
    engine: Engine, database_url: str, settings: Settings
) -> None:
    for value, when in (("87.5", "2026-02-23T10:00"), ("76.9", "2026-02-23T12:00")):
        quote = Quote("KGS", "erapi", Value(Decimal(value), per_usd=True), at(when), at(when).date())
        store_quotes(engine, settings, "erapi", [quote], started_at=at(when), entries_seen=1)
    ingest(engine, settings, page(), at("2026-02-23T13:00"))
    # At 10:05 the aggregator said 87.5 per USD (0.0114286 USD), not its newest 76.9 (0.0130039 USD).
    late = summary(engine, settings, page(KGS="0.01300 0%"), at("2026-02-23T10:05"))
    assert "; flagged: KGS from ticker: differs 13.75% from erapi (0.0114286 USD;" in late


# --- any order ------------------------------------------------------------------------------------------------

RATES = {  # three values each: a change, and a change back
    "KGS": ("0.01144", "0.01150", "0.01139"),
    "KZT": ("0.00201", "0.00200", "0.00202"),
    "TJS": ("0.10567", "0.10570", "0.10560"),
    "UZS": ("0.00008", "0.00007", "0.00009"),
    "TMT": ("0.28571", "0.28570", "0.28572"),
}
CHANGES = ("0", "-0.09", "0.52", "1.4")
STEPS = (1, 5, 10, 14, 15, 16, 30, 90)  # minutes between pages: within the gap, at its edge, past it


@st.composite
def archives(draw: st.DrawFn) -> list[tuple[datetime, bytes]]:
    """Saved pages of a few hours, each at its own moment. A value left for another comes back only once more
    than the gap has passed since it was last seen: else a page between, loaded last, would fall inside a span
    joined across it (a conflict, which is refused, not stored)."""
    moment, pages = at("2026-02-23T10:00"), []
    current: dict[str, str] = {}
    last_seen: dict[tuple[str, str], datetime] = {}
    for _ in range(draw(st.integers(2, 8))):
        moment += timedelta(minutes=draw(st.sampled_from(STEPS)))
        entries = {}
        for currency, rates in RATES.items():
            value = draw(st.sampled_from(rates))
            seen = last_seen.get((currency, value))
            if currency in current and value != current[currency] and seen is not None and moment - seen <= GAP:
                value = current[currency]
            current[currency], last_seen[(currency, value)] = value, moment
            entries[currency] = f"{value} {draw(st.sampled_from(CHANGES))}%"
        pages.append((moment, page(**entries)))
    return pages


def _load(engine: Engine, settings: Settings, pages: Sequence[tuple[datetime, bytes]]) -> list[tuple[Any, ...]]:
    """Ingest `pages` into an emptied store, in this order; the spans they give."""
    with engine.begin() as conn:
        for table in (RateSpan, RateRollup, RateRollupDay, RatePairRollup, RatePairRollupDay, PollLog, QuoteFlag,
                      SourceState):  # fmt: skip
            conn.execute(delete(table))
    for when, body in pages:
        outcome = ingest(engine, settings, body, when)
        assert outcome.result is not None and not outcome.result.rejections, outcome.summary()
    assert_rollups_current(engine)
    found = spans(engine)
    assert spans_stored(engine) == len(found)
    with Session(engine) as session:  # every observation stored is accounted for by a poll-log row
        logged = session.exec(select(func.sum(PollLog.spans_opened + PollLog.spans_extended))).one()
    assert sum(seen for *_, seen, _, _ in found) == logged
    return found


@hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pages=archives(), data=st.data())
def test_pages_in_any_order_give_the_spans_of_pages_in_order(
    engine: Engine, settings: Settings, pages: list[tuple[datetime, bytes]], data: st.DataObject
) -> None:
    in_order = _load(engine, settings, pages)
    assert sum(seen for *_, seen, _, _ in in_order) == 5 * len(pages)
    assert _load(engine, settings, pages[::-1]) == in_order
    shuffled = data.draw(st.permutations(pages))
    assert _load(engine, settings, shuffled) == in_order


def test_pages_of_hours_in_reverse_give_the_spans_of_the_hours_in_order(engine: Engine, settings: Settings) -> None:
    """Six hours of pages every five minutes (the ticker's own interval), its KGS changing a few times."""
    start = at("2026-02-23T00:00")
    changes: Mapping[int, str] = {0: "0.01144 0%", 20: "0.01150 0.52%", 21: "0.01151 0.09%", 50: "0.01144 -0.61%"}
    pages, entry = [], changes[0]
    for n in range(72):
        entry = changes.get(n, entry)
        pages.append((start + timedelta(minutes=5 * n), page(KGS=entry)))
    in_order = _load(engine, settings, pages)
    assert [(value, first, last, seen, change) for _, value, first, last, seen, _, change in spans(engine, "KGS")] == [
        ("0.01144", start, at("2026-02-23T01:35"), 20, "0"),
        ("0.01150", at("2026-02-23T01:40"), at("2026-02-23T01:40"), 1, "0.52"),
        ("0.01151", at("2026-02-23T01:45"), at("2026-02-23T04:05"), 29, "0.09"),
        ("0.01144", at("2026-02-23T04:10"), at("2026-02-23T05:55"), 22, "-0.61"),
    ]
    assert _load(engine, settings, pages[::-1]) == in_order
