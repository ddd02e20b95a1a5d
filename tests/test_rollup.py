"""The hourly and daily rollups, and those of the pairs: kept equal to a recomputation from the spans by every
store write, and bucket answers read from them (in several zones, in USD or another base) equal to the sweep of
every span (tests/span_buckets.py)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, event, insert

from app.domain.calendar import INTERVALS, Calendar, hour_ranges
from app.domain.pairing import parse_level
from app.domain.quotes import Quote
from app.domain.values import Value
from app.ingest import pairs, rollup
from app.ingest.schema import migrate
from app.ingest.store import apply_history, apply_snapshot, rebuild_rollup
from app.read import series as series_module
from app.read.series import Series, series_buckets
from app.storage.engine import WRITE_OPTIONS, make_engine
from app.storage.migrate import current_revision, head_revision, upgrade
from app.storage.models import RateSpan
from tests.series import insert_spans, span
from tests.span_buckets import rates, reference_buckets
from tests.support import assert_rollups_current, at

GAP = timedelta(minutes=20)
ORIGIN = at("2026-03-29T20:00")  # a Sunday evening: days, a Monday week and a month start within four days
# (currency, source, direction): a ticker, a bank publishing units per USD, one that flips direction, and two more
# of the ticker, whose crosses with its KGS the pair rollups sum up.
SERIES = [("KGS", "ticker", False), ("KZT", "nbk", True), ("UZS", "erapi", None), ("TJS", "ticker", False),
          ("TMT", "ticker", True)]  # fmt: skip


def _value(rng: random.Random, per_usd: bool) -> Decimal:
    if per_usd:
        return Decimal(rng.choice(["480", "480.00", "481.5", "479.25", "12500", "1.2345678901234567"]))
    return Decimal(rng.choice(["0.01144", "0.011440", "0.0115", "0.01139", "1.2345678901234568", "0.002"]))


def _quote(rng: random.Random, currency: str, source: str, direction: bool | None, moment: datetime) -> Quote:
    per_usd = rng.random() < 0.5 if direction is None else direction
    return Quote(currency, source, Value(_value(rng, per_usd), per_usd), moment, effective_date=moment.date())


def _moments(rng: random.Random, count: int, start: datetime) -> list[datetime]:
    """Increasing instants, mostly a few minutes apart, sometimes an hour or more (a gap, or hours skipped)."""
    moments, t = [], start
    for _ in range(count):
        t += timedelta(minutes=rng.choice([1, 2, 5, 7, 13, 19, 25, 61, 130]), seconds=rng.choice([0, 0, 30]))
        moments.append(t)
    return moments


def _fill(engine: Engine, rng: random.Random) -> None:
    """Live polls over the middle of the range, then history before, after and in between, out of order."""
    live = _moments(rng, 120, ORIGIN + timedelta(hours=30))
    for moment in live:
        quotes = []
        for currency, source, direction in SERIES:
            if rng.random() < 0.8:
                # Mostly the same value again (an extension), sometimes a new one.
                repeat = rng.random() < 0.7
                quote = _quote(random.Random(f"{currency}{moment:%d%H}") if repeat else rng, currency, source,
                               direction, moment)  # fmt: skip
                quotes.append(quote)
        by_source: dict[str, list[Quote]] = {}
        for quote in quotes:
            by_source.setdefault(quote.source, []).append(quote)
        for source, batch in by_source.items():
            apply_snapshot(engine, source, batch, started_at=moment, max_gap=GAP, entries_seen=len(batch))
    history = _moments(rng, 400, ORIGIN)
    rng.shuffle(history)
    for at_once in range(0, len(history), 25):
        quotes = [
            _quote(rng, currency, source, direction, moment)
            for moment in history[at_once : at_once + 25]
            for currency, source, direction in SERIES
            if rng.random() < 0.7
        ]
        for source in {q.source for q in quotes}:
            mine = [q for q in quotes if q.source == source]
            apply_history(engine, source, mine, days={}, max_gap=GAP)


def _check_rollup(engine: Engine) -> None:
    assert_rollups_current(engine)
    with engine.connect() as conn:
        expected = rollup.computed(conn)
        assert expected, "no spans were stored"
        assert len(rollup.computed_days(conn)) >= len(expected), (
            "a day row for each of the 24 hours up to each hour row"
        )
        assert {(r["currency"], r["base"]) for r in pairs.computed(conn)} == {
            (a, b) for a in ("KGS", "TJS", "TMT") for b in ("KGS", "TJS", "TMT") if a != b
        }


def _check_buckets(engine: Engine, rng: random.Random) -> None:
    first, last = ORIGIN - timedelta(days=1), ORIGIN + timedelta(days=5)
    ranges = [(first, last)]
    for _ in range(6):
        a = first + timedelta(minutes=rng.randrange(0, 6 * 24 * 60))
        ranges.append((a, a + timedelta(minutes=rng.randrange(0, 3 * 24 * 60))))
    # London's clocks go forward on 2026-03-29 at 01:00 UTC: a day of 23 hours, which no day row covers whole.
    zones = [UTC, ZoneInfo("Asia/Almaty"), ZoneInfo("Asia/Kolkata"), ZoneInfo("Europe/London")]
    with engine.connect() as conn:
        for currency, source, _ in SERIES:
            # A ticker series with the same hold as the base is crossed from the pair rollups; the others leg by leg.
            for gap in (timedelta(minutes=15), timedelta(hours=2)):
                series = Series(currency, source, gap)
                base = Series("KGS", "ticker", timedelta(minutes=15)) if currency != "KGS" else None
                for interval in INTERVALS:
                    calendar = Calendar(interval, rng.choice(zones))
                    for start, end in ranges:
                        for other in (None, base):
                            found = series_buckets(conn, series, calendar, start, end, other)
                            expected = reference_buckets(conn, series, calendar, start, end, other)
                            assert rates(found) == rates(expected), (currency, interval, calendar.zone, start, end)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_store_keeps_the_rollup_equal_to_the_spans(engine: Engine, seed: int) -> None:
    rng = random.Random(seed)
    _fill(engine, rng)
    _check_rollup(engine)
    _check_buckets(engine, rng)
    # Recomputing from scratch changes nothing.
    rebuild_rollup(engine)
    _check_rollup(engine)


def test_hours_read_span_by_span_over_several_statements(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # Stretches of consecutive hours are read a hundred to a statement; two here, so that most reads take several.
    monkeypatch.setattr(series_module, "_CHUNK", 2)
    rng = random.Random(4)
    _fill(engine, rng)
    _check_buckets(engine, rng)


def test_consecutive_hours_are_read_as_one_stretch() -> None:
    hour, t = timedelta(hours=1), at("2026-03-30T00:00")
    hours = [t + 3 * hour, t, t + hour, t + hour, t + 5 * hour, t + 4 * hour]
    assert hour_ranges(hours) == [(t, t + 2 * hour), (t + 3 * hour, t + 6 * hour)]
    assert hour_ranges([]) == []


def test_history_that_prepends_and_bridges_moves_the_rows(engine: Engine) -> None:
    def quote(value: str, moment: str) -> Quote:
        return Quote("KZT", "nbk", Value(Decimal(value), per_usd=True), at(moment), effective_date=date(2026, 1, 1))

    apply_history(engine, "nbk", [quote("480", "2026-01-01T10:50"), quote("480", "2026-01-01T11:30")], days={},
                  max_gap=timedelta(minutes=30))  # fmt: skip
    with engine.connect() as conn:
        assert [(r["hour"], r["spans"]) for r in rollup.stored(conn)] == [(at("2026-01-01T10:00"), 1),
                                                                          (at("2026-01-01T11:00"), 1)]  # fmt: skip
    # 11:10 joins both: one span from 10:50 to 11:30; then 10:25 starts it earlier (in the same hour).
    apply_history(engine, "nbk", [quote("480", "2026-01-01T11:10")], days={}, max_gap=timedelta(minutes=30))
    apply_history(engine, "nbk", [quote("480", "2026-01-01T10:25")], days={}, max_gap=timedelta(minutes=30))
    # 09:58 moves its start into the hour before.
    apply_history(engine, "nbk", [quote("480", "2026-01-01T09:58")], days={}, max_gap=timedelta(minutes=30))
    with engine.connect() as conn:
        rows = rollup.stored(conn)
        assert rows == rollup.computed(conn)
    assert [(r["hour"], r["spans"], r["first_seen"], r["last_seen"]) for r in rows] == [
        (at("2026-01-01T09:00"), 1, at("2026-01-01T09:58"), at("2026-01-01T11:30"))
    ]


@contextmanager
def _at_revision(engine: Engine, revision: str, rows: list[dict[str, Any]]) -> Iterator[Connection]:
    """A store migrated to `revision` only, holding the spans `rows`: the connection, its transaction open."""
    config = Config()
    config.set_main_option("script_location", "app:migrations")
    with engine.connect().execution_options(**WRITE_OPTIONS) as conn, conn.begin():
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.execute(insert(RateSpan.__table__), rows)  # type: ignore[attr-defined]
        yield conn


def test_migrating_past_0005_to_0007_fills_the_rollups_from_stored_spans(database_url: str) -> None:
    engine = make_engine(database_url)
    rows = [
        span("KGS", "ticker", "0.01144", False, at("2026-01-01T00:00"), at("2026-01-01T00:50")),
        span("KGS", "ticker", "0.0115", False, at("2026-01-01T00:55"), at("2026-01-01T02:00")),
        span("KGS", "ticker", "0.011", False, at("2026-01-01T02:10"), at("2026-01-01T02:20")),
        span("KZT", "nbk", "480.5", True, at("2026-01-01T00:05"), at("2026-01-02T00:00")),
        span("TJS", "ticker", "0.1", False, at("2026-01-01T00:30"), at("2026-01-01T02:15")),
    ]
    try:
        with _at_revision(engine, "0002", rows):
            pass  # committed: the store as 0002 left it, spans and all
        with pytest.raises(RuntimeError, match="refills derived tables"):
            upgrade(engine)  # without the refill: refused whole, nothing applied
        assert current_revision(engine) == "0002"
        migrate(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            stored = rollup.stored(conn)
            assert stored == rollup.computed(conn)
            days = rollup.stored_days(conn)
            assert days == rollup.computed_days(conn)
        assert [
            (r["currency"], r["hour"], r["spans"], r["low_value"], r["high_value"], r["last_value"]) for r in stored
        ] == [
            ("KGS", at("2026-01-01T00:00"), 2, "0.01144", "0.0115", "0.0115"),
            ("KGS", at("2026-01-01T02:00"), 1, "0.011", "0.011", "0.011"),
            ("KZT", at("2026-01-01T00:00"), 1, "480.5", "480.5", "480.5"),
            ("TJS", at("2026-01-01T00:30").replace(minute=0), 1, "0.1", "0.1", "0.1"),
        ]
        # The ticker's KGS and TJS cross from 00:30 (TJS begins) and change at 00:55 and 02:10 (KGS does): a
        # piece last seen when the earlier of its legs was. KGS in TJS: 0.01144 / 0.1, then 0.115, then 0.11.
        with engine.connect() as conn:
            crosses = pairs.stored(conn)
            assert crosses == pairs.computed(conn)
            assert pairs.stored_days(conn) == list(rollup.days_of_hours(crosses, pairs.KIND))
        assert [(r["currency"], r["base"], r["hour"], r["spans"], r["last_seen"]) for r in crosses] == [
            ("KGS", "TJS", at("2026-01-01T00:00"), 2, at("2026-01-01T02:00")),
            ("KGS", "TJS", at("2026-01-01T02:00"), 1, at("2026-01-01T02:15")),
            ("TJS", "KGS", at("2026-01-01T00:00"), 2, at("2026-01-01T02:00")),
            ("TJS", "KGS", at("2026-01-01T02:00"), 1, at("2026-01-01T02:15")),
        ]
        assert [parse_level(r["high"]).in_base for r in crosses[:2]] == [Decimal("0.115"), Decimal("0.11")]
        # KGS went unseen from 00:50 until its next span began at 00:55: five minutes, in microseconds.
        assert [r["inner_gap"] for r in crosses] == [300_000_000, 0, 300_000_000, 0]
        # A day row starts at each of the 24 hours up to each hour row: 2025-12-31T01:00 to 2026-01-01T02:00 for
        # KGS; the day from midnight holds all three spans, lowest 0.011, last seen at 02:20.
        kgs = [r for r in days if r["currency"] == "KGS"]
        assert [r["start"] for r in kgs] == [at("2025-12-31T01:00") + timedelta(hours=k) for k in range(26)]
        midnight = next(r for r in kgs if r["start"] == at("2026-01-01T00:00"))
        assert (midnight["spans"], midnight["low_value"], midnight["high_value"], midnight["last_seen"]) == (
            3, "0.011", "0.0115", at("2026-01-01T02:20"))  # fmt: skip
    finally:
        engine.dispose()


def test_migrating_past_0010_keeps_the_pair_rollups_of_the_ticker_only(database_url: str) -> None:
    """0010 deletes the pair rows of the daily sources (their crosses are read from the legs now) and keeps the
    ticker's; the rows it keeps are those a rebuild would write."""
    engine = make_engine(database_url)
    rows = [
        span("KGS", "ticker", "0.01144", False, at("2026-01-01T00:00"), at("2026-01-01T00:50")),
        span("TJS", "ticker", "0.1", False, at("2026-01-01T00:30"), at("2026-01-01T02:15")),
        span("KGS", "erapi", "85.7", True, at("2026-01-01T00:00"), at("2026-01-01T06:00")),
        span("KZT", "erapi", "478.9", True, at("2026-01-01T00:00"), at("2026-01-01T06:00")),
    ]
    try:
        with _at_revision(engine, "0009", rows) as conn:
            ticker = list(pairs.computed(conn))
            # erapi's pair rows as the code of 0009 kept them: KGS in KZT and back, for its hour.
            erapi = [
                dict(row, source="erapi", currency=c, base=b)
                for row, (c, b) in zip(ticker[:2], [("KGS", "KZT"), ("KZT", "KGS")], strict=True)
            ]
            conn.execute(insert(pairs.HOURS), ticker + erapi)
            conn.execute(insert(pairs.DAYS), list(rollup.days_of_hours(ticker + erapi, pairs.KIND)))
        with engine.connect() as conn:
            assert {r["source"] for r in pairs.stored_days(conn)} == {"ticker", "erapi"}
        migrate(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            assert (
                pairs.stored(conn)
                == pairs.computed(conn)
                == sorted(ticker, key=lambda r: (r["currency"], r["base"], r["source"], r["hour"]))
            )
            assert {r["source"] for r in pairs.stored_days(conn)} == {"ticker"}
    finally:
        engine.dispose()


def test_daily_buckets_read_one_day_row_each(engine: Engine) -> None:
    # Twelve days of a value every ten minutes, each new: days of UTC and of Almaty (UTC+5) read one row of the
    # daily rollup each, not 24 hour rows, and answer as the sweep of every span does.
    first = at("2026-01-01T00:00")
    starts = [first + n * timedelta(minutes=10) for n in range(12 * 144)]
    rows = [span("KGS", "ticker", f"0.0114{n:04d}", False, t, t + timedelta(minutes=5)) for n, t in enumerate(starts)]
    insert_spans(engine, rows)
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    series = Series("KGS", "ticker", timedelta(minutes=7))
    for zone in (UTC, ZoneInfo("Asia/Almaty")):
        calendar = Calendar("1d", zone)
        start, end = at("2026-01-02T00:00"), at("2026-01-11T00:00")
        event.listen(engine, "before_cursor_execute", seen)
        try:
            with engine.connect() as conn:
                found = series_buckets(conn, series, calendar, start, end)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        with engine.connect() as conn:
            assert rates(found) == rates(reference_buckets(conn, series, calendar, start, end, None))
        assert len(found) == (10 if zone is UTC else 9), zone
        assert [s for s in statements if "FROM rate_rollup_day" in s], statements
        assert not [s for s in statements if "FROM rate_rollup " in s or "FROM rate_rollup\n" in s], statements
        statements.clear()


def test_a_run_that_begins_as_the_other_leg_lapses_ends_with_its_first_span(engine: Engine) -> None:
    """KGS, whose values hold 15 minutes, was last seen at 10:00: it lapses at 10:15, the instant KZT begins a span,
    and KZT begins another at 10:20. The cross is in force at 10:15 only, then again from 11:00 (KGS back) to
    12:15: the day's average is that of 11:00 to 12:15 alone, not five minutes of 10:15's value as well."""
    insert_spans(engine, [
        span("KGS", "ticker", "0.0115", False, at("2026-01-01T09:00"), at("2026-01-01T10:00")),
        span("KGS", "ticker", "0.0114", False, at("2026-01-01T11:00"), at("2026-01-01T12:00")),
        span("KZT", "nbk", "470", True, at("2026-01-01T10:15"), at("2026-01-01T10:15")),
        span("KZT", "nbk", "482", True, at("2026-01-01T10:20"), at("2026-01-01T12:00")),
    ])  # fmt: skip
    hold = timedelta(minutes=15)
    quote, base, calendar = Series("KZT", "nbk", hold), Series("KGS", "ticker", hold), Calendar("1d", UTC)
    day = at("2026-01-01T00:00")
    with engine.connect() as conn:
        found = series_buckets(conn, quote, calendar, day, day, base)
        assert rates(found) == rates(reference_buckets(conn, quote, calendar, day, day, base))
    # Tenge per som: 482 tenge per dollar times 0.0114 dollars per som, exactly.
    assert found[0].average == Decimal("5.4948")


def test_a_poll_of_unchanged_values_only_moves_the_pairs_last_seen(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The common poll confirms every open span: each pair's last piece is seen longer, and nothing is recomputed;
    a poll in which KGS changes recomputes the hours of its pairs."""
    recomputed: list[set[tuple[str, str, str, datetime]]] = []
    refresh = pairs.refresh

    def recorded(conn: Connection, keys: Iterable[tuple[str, str, str, datetime]]) -> None:
        recomputed.append(set(keys))
        refresh(conn, recomputed[-1])

    monkeypatch.setattr(pairs, "refresh", recorded)

    def poll(moment: str, kgs: str) -> None:
        quotes = [Quote(code, "ticker", Value(Decimal(value), False), at(moment))
                  for code, value in (("KGS", kgs), ("TJS", "0.1"), ("UZS", "0.00008"))]  # fmt: skip
        apply_snapshot(engine, "ticker", quotes, started_at=at(moment), max_gap=GAP, entries_seen=3)

    poll("2026-01-01T10:00", "0.0115")
    poll("2026-01-01T10:01", "0.0115")
    poll("2026-01-01T10:02", "0.0115")
    assert recomputed[1:] == [set(), set()]
    poll("2026-01-01T10:03", "0.0114")
    assert {(c, b) for c, b, _, _ in recomputed[-1]} == {("KGS", "TJS"), ("KGS", "UZS"), ("TJS", "KGS"),
                                                         ("UZS", "KGS")}  # fmt: skip
    poll("2026-01-01T10:04", "0.0114")
    assert recomputed[-1] == set()
    with engine.connect() as conn:
        stored = pairs.stored(conn)
        assert stored == pairs.computed(conn)
        assert pairs.stored_days(conn) == list(rollup.days_of_hours(stored, pairs.KIND))
    assert {row["last_seen"] for row in stored} == {at("2026-01-01T10:04")}


def test_a_replayed_poll_moves_the_later_pieces_that_hold_its_span(engine: Engine) -> None:
    """KGS goes missing from the feed after 10:00 while KZT changes at 11:00; then a poll observed at 10:30 is
    stored late (a replay): KGS's span now ends at 10:30, and so does the piece it makes with KZT's span of 11:00."""

    def poll(moment: str, **values: str) -> None:
        quotes = [Quote(code, "ticker", Value(Decimal(value), False), at(moment)) for code, value in values.items()]
        apply_snapshot(engine, "ticker", quotes, started_at=at(moment), max_gap=timedelta(hours=3), entries_seen=2)

    poll("2026-01-01T09:00", KGS="0.0115", KZT="0.0021")
    poll("2026-01-01T10:00", KGS="0.0115", KZT="0.0021")
    poll("2026-01-01T11:00", KZT="0.0022")
    poll("2026-01-01T10:30", KGS="0.0115")
    with engine.connect() as conn:
        stored = pairs.stored(conn)
        assert stored == pairs.computed(conn)
    eleven = [row for row in stored if row["hour"] == at("2026-01-01T11:00")]
    assert [row["last_seen"] for row in eleven] == [at("2026-01-01T10:30")] * 2
