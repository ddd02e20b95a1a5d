"""The tables step: what a poll costs when every currency of the banks' tables is stored, against the five.

Each round polls the ticker page, NBK's table and CBU's table, as the poller would each minute (every value
confirmed: the common poll). One store serves the five currencies, the other every code the two tables publish
(some 80); rounds alternate between them so that both see the same machine. The cost per currency must not grow
with the pairs of currencies: the banks keep no pair rollups.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from app.ingest.pipeline import process
from app.sources import cbu, nbk, ticker
from app.sources.base import SourceSpec
from app.sources.registry import load_settings
from app.storage.engine import make_engine
from app.storage.migrate import upgrade
from bench.harness import ROOT, SEED, Figure, Size

_FIXTURES = ROOT / "tests" / "fixtures"
_FEEDS: Sequence[tuple[SourceSpec, bytes]] = (
    (ticker.SPEC, SEED.read_bytes()),
    (nbk.SPEC, (_FIXTURES / "nbk_get_rates_2026-04-01.xml").read_bytes()),
    (cbu.SPEC, (_FIXTURES / "cbu_all_2026-04-01.json").read_bytes()),
)
_FIVE = "KGS,KZT,TJS,UZS,TMT"
_START = datetime(2026, 4, 1, 4, 0, tzinfo=UTC)


def _series(codes: str) -> int:
    """How many series the feeds hold of `codes`: one span each when every poll confirms them."""
    wanted = set(codes.split(","))
    return len(
        {(q.currency, q.source) for spec, body in _FEEDS for q in spec.parse(body, _START) if q.currency in wanted}
    )


def _every_code() -> str:
    codes = {q.currency for spec, body in _FEEDS for q in spec.parse(body, _START)}
    return ",".join(sorted(codes))


def _rounds(engine: Engine, currencies: str, url: str, first: int, count: int) -> float:
    settings = load_settings(database_url=url, sources="ticker,nbk,cbu", currencies=currencies)
    began = time.perf_counter()
    for n in range(first, first + count):
        when = _START + timedelta(minutes=n)
        for spec, body in _FEEDS:
            outcome = process(engine, settings, spec, body, observed_at=when, started_at=when)
            assert outcome.ok, outcome.summary()
    return time.perf_counter() - began


def bench_tables(size: Size, urls: tuple[str, str], label: str) -> list[Figure]:
    every = _every_code()
    engines = [make_engine(url) for url in urls]
    for engine in engines:
        upgrade(engine)
    spent = [0.0, 0.0]
    polls = max(1, size.polls // 4)  # six hours of rounds a minute: each confirms every span, as most polls do
    chunk = max(1, polls // 12)
    for first in range(0, polls, chunk):  # alternate, so both stores see the same machine
        for side, currencies in enumerate((_FIVE, every)):
            spent[side] += _rounds(engines[side], currencies, urls[side], first, min(chunk, polls - first))
    stored = []
    for engine in engines:
        with engine.connect() as conn:
            stored.append(conn.execute(text("SELECT count(*) FROM rate_span")).scalar_one())
        engine.dispose()
    served = len(every.split(","))
    ratio = spent[1] / spent[0]
    per_series = (spent[1] / stored[1]) / (spent[0] / stored[0])
    rounds = f"{polls:,} rounds"
    return [
        Figure(
            f"poll of the ticker, NBK's and CBU's tables, all {served} codes ÷ the five ({label})",
            ratio,
            "×",
            f"≤ 1.5 ({spent[0] / polls * 1000:.1f} → {spent[1] / polls * 1000:.1f} ms a round)",
            ratio <= 1.5,
        ),
        Figure(
            f"series stored, all {served} codes ({label})",
            stored[1],
            "rows",
            f"= {_series(every)}: one span a series after {rounds} (the five: {stored[0]} of {_series(_FIVE)})",
            stored == [_series(_FIVE), _series(every)],
        ),
        Figure(
            f"cost of a poll per series stored, all codes ÷ the five ({label})", per_series, "×", "≤ 1", per_series <= 1
        ),
    ]
