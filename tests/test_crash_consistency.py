"""A poller killed (SIGKILL) at random moments, again and again, never leaves the store inconsistent.

Each kill lands somewhere in a real `fx-ticker serve` (FX_ROLE=poller): starting up, fetching, in the middle of
storing a snapshot. Every store transaction writes spans, the rollup and the poll-log row together, so after
any number of kills:

- the spans of one series never overlap;
- every observation stored is accounted for by a poll-log row (spans opened plus spans extended);
- the hourly rollup equals a rebuild from the spans.

The kill moments come from a fixed seed; a broken invariant fails with the seed and the moments, so the run
can be told apart from another (the exact interleaving of a kill with a write cannot be replayed).
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from app.ingest import rollup
from app.storage.models import PollLog, RateSpan
from tests.processes import Server, wait_for
from tests.support import SEED_PAGE, Upstream

SEED = 20260223
KILLS = 16  # per database
# TJS moves every third poll, KGS every fifth, and back again: changes, returns to an earlier value, repeats.
TJS = ["0.10567", "0.10571", "0.10567", "0.10560"]
KGS = ["0.01144", "0.01145"]


def ticker_page(request: int) -> bytes:
    tjs, kgs = TJS[request // 3 % len(TJS)], KGS[request // 5 % len(KGS)]
    return SEED_PAGE.read_bytes().replace(b"0.10567", tjs.encode()).replace(b"0.01144", kgs.encode())


@dataclass(frozen=True)
class Kill:
    """One kill: `after_requests` > 0 waits for that many more upstream requests, then `delay` seconds (a kill
    while the snapshot just fetched is being stored); otherwise the kill comes `delay` seconds after the start."""

    after_requests: int
    delay: float

    @staticmethod
    def drawn(rng: random.Random) -> Kill:
        if rng.random() < 0.6:
            return Kill(rng.randint(1, 2), rng.uniform(0.0, 0.05))
        return Kill(0, rng.uniform(0.2, 3.5))


@dataclass(frozen=True)
class Done:
    kill: Kill
    at: float  # seconds after the process was started
    requests: int  # upstream requests seen so far, in all


def _run_and_kill(env: dict[str, str], log: Path, upstream: Upstream, kill: Kill) -> Done:
    before = len(upstream.requests)
    server = Server(env, log)
    started = time.monotonic()
    try:
        if kill.after_requests:
            wait_for(lambda: len(upstream.requests) >= before + kill.after_requests, 30, "a poll to kill")
        time.sleep(kill.delay)
        at = time.monotonic() - started
        server.kill()
    finally:
        server.kill()
    return Done(kill, round(at, 3), len(upstream.requests))


def _overlaps(spans: list[RateSpan]) -> list[str]:
    found = []
    series = itertools.groupby(sorted(spans, key=lambda s: (s.currency, s.source, s.first_seen)),
                               key=lambda s: (s.currency, s.source))  # fmt: skip
    for (currency, source), group in series:
        for earlier, later in itertools.pairwise(group):
            if not earlier.last_seen < later.first_seen:
                found.append(
                    f"{currency}/{source}: span {earlier.first_seen}..{earlier.last_seen} ({earlier.value}) "
                    f"overlaps span {later.first_seen}..{later.last_seen} ({later.value})"
                )
    return found


def _broken_invariants(engine: Engine) -> list[str]:
    broken = []
    with Session(engine) as session:
        spans = list(session.exec(select(RateSpan)))
        observations = sum(s.observations for s in spans)
        logged = session.exec(select(func.sum(PollLog.spans_opened + PollLog.spans_extended))).one() or 0
        conn = session.connection()
        computed, stored = rollup.computed(conn), rollup.stored(conn)
        computed_days, stored_days = rollup.computed_days(conn), rollup.stored_days(conn)
    broken += _overlaps(spans)
    if observations != logged:
        broken.append(f"{observations} observations stored, but the poll log accounts for {logged}")
    if computed != stored:
        differ = [(c, s) for c, s in itertools.zip_longest(computed, stored) if c != s]
        broken.append(f"the rollup differs from a rebuild in {len(differ)} row(s), first: {differ[0]}")
    if computed_days != stored_days:
        differ = [(c, s) for c, s in itertools.zip_longest(computed_days, stored_days) if c != s]
        broken.append(f"the day rollup differs from a rebuild in {len(differ)} row(s), first: {differ[0]}")
    return broken


def _ticker_values(engine: Engine) -> list[str]:
    with Session(engine) as session:
        statement = select(RateSpan.value).where(RateSpan.source == "ticker", RateSpan.currency == "TJS")
        return list(session.exec(statement.order_by(col(RateSpan.first_seen))))


@pytest.mark.slow
def test_a_poller_killed_at_random_moments_leaves_a_consistent_store(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    kills = [Kill.drawn(rng) for _ in range(KILLS)]
    done: list[Done] = []
    with Upstream() as upstream:
        env = {
            "FX_DATABASE_URL": database_url,
            "FX_ROLE": "poller",
            "FX_SOURCES": "ticker,peg",
            "FX_SOURCE_TICKER_URL": upstream.serve_changing("/", ticker_page),
            "FX_SOURCE_TICKER_INTERVAL": "1",
            "FX_SOURCE_PEG_INTERVAL": "1",
            "FX_POLL_JITTER": "0",
            "FX_LOG_LEVEL": "warning",
        }
        log = tmp_path / "serve.log"
        for kill in kills:
            done.append(_run_and_kill(env, log, upstream, kill))
        # And after all that, a poller starts, polls, and stops cleanly.
        polled = len(upstream.requests)
        with Server(env, log) as server:
            server.wait_healthy()
            wait_for(lambda: len(upstream.requests) > polled + 1, 30, "a poll after the kills")
        assert server.process.returncode == 0, server.output()

    broken = _broken_invariants(engine)
    schedule = "\n".join(
        f"  kill {n}: {d.at:.3f} s after start"
        + (f" ({d.kill.after_requests} poll(s) in, +{d.kill.delay:.3f} s)" if d.kill.after_requests else "")
        + f", {d.requests} upstream requests so far"
        for n, d in enumerate(done, 1)
    )
    assert not broken, f"seed {SEED}: " + "; ".join(broken) + f"\nkills ({database_url}):\n{schedule}"
    values = _ticker_values(engine)
    assert len(values) >= 4 and len(set(values)) >= 2, f"too little happened to prove anything: TJS {values}"
