"""parse -> validate -> collapse -> store for one snapshot of one source; shared by the poller and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Engine

from app.core.settings import Settings
from app.domain.collapse import dedupe
from app.domain.outcome import PollOutcome
from app.domain.quotes import Quote
from app.domain.validate import Screening, screen
from app.ingest.store import ApplyResult, FlagRules, apply_snapshot, record_failure
from app.sources.base import ParseError, SourceSpec
from app.sources.registry import SOURCES, cadence


@dataclass(frozen=True, slots=True)
class Outcome:
    source: str
    ok: bool
    result: ApplyResult | None = None
    error: str | None = None
    # The quotes stored (or confirmed): what a 304 from the upstream will confirm again next time.
    quotes: Sequence[Quote] = field(default=(), repr=False)
    # False when the database was away: the poll-log row waits in the poller's memory to be written.
    recorded: bool = True

    @property
    def status(self) -> PollOutcome:
        if self.result is not None:
            return self.result.outcome
        return PollOutcome.REJECTED if self.ok else PollOutcome.ERROR

    def summary(self) -> str:
        if self.result is None:
            return f"{self.source}: {self.status}: {self.error}"
        r = self.result
        text = f"{self.source}: {r.outcome}, {r.entries_seen} entries, {r.opened} spans opened, {r.extended} extended"
        if r.announced:
            text += f", {r.announced} announced for a later day (not in force before it)"
        if r.ignored:  # sightings stored before (a page loaded again): said, so nothing is dropped silently
            text += f", {r.ignored} already stored"
        if r.rejections:
            text += "; rejected: " + "; ".join(str(x) for x in r.rejections)
        if r.flags:
            text += "; flagged: " + "; ".join(str(x) for x in r.flags)
        return text


def fail(engine: Engine, source: str, started_at: datetime, error: str) -> Outcome:
    record_failure(engine, source, started_at=started_at, error=error)
    return Outcome(source, ok=False, error=error)


def flag_rules(settings: Settings) -> FlagRules:
    cadences = {name: cadence(settings, name) for name in SOURCES}
    return FlagRules(jump_pct=settings.flag_jump_pct, spread_pct=settings.flag_spread_pct, cadences=cadences)


def screened(
    quotes: Sequence[Quote],
    settings: Settings,
    *,
    today: date,
    expected_day: date | None = None,
    not_after: date | None = None,
) -> Screening:
    """The quotes that may be stored (of the configured currencies, checked, one per currency and moment), those
    announced for a later day, and why each other was refused: the one screening of live polls, saved pages and
    backfilled history."""
    wanted = [q for q in quotes if q.currency in settings.currencies]
    screening = screen(wanted, today=today, expected_day=expected_day, not_after=not_after)
    kept, conflicts = dedupe(screening.kept)
    announced, disagreed = dedupe(screening.announced)
    return Screening(kept, announced, screening.rejected + conflicts + disagreed)


def store_quotes(
    engine: Engine,
    settings: Settings,
    source: str,
    quotes: Sequence[Quote],
    *,
    started_at: datetime,
    entries_seen: int,
    expected_day: date | None = None,
    not_after: date | None = None,
    max_gap: timedelta | None = None,
    unchanged: bool = False,
) -> Outcome:
    """Validate, collapse and store parsed quotes. Nothing acceptable left is a `rejected` poll, not an error:
    the upstream answered, just not with anything we may store (another day's rates, say)."""
    wanted = [q for q in quotes if q.currency in settings.currencies]
    if not wanted:
        return fail(engine, source, started_at, "no configured currency in the response")
    today = max(q.observed_at for q in wanted).date()
    screening = screened(wanted, settings, today=today, expected_day=expected_day, not_after=not_after)
    kept, rejections = screening.kept, screening.rejected
    if not kept and not screening.announced:
        error = "nothing stored: " + "; ".join(str(r) for r in rejections)
        record_failure(
            engine,
            source,
            started_at=started_at,
            error=error,
            entries_seen=entries_seen,
            rejections=rejections,
            outcome=PollOutcome.REJECTED,
        )
        return Outcome(source, ok=True, error=error)
    result = apply_snapshot(
        engine,
        source,
        kept,
        started_at=started_at,
        max_gap=max_gap or timedelta(seconds=settings.source_max_gap(source)),
        entries_seen=entries_seen,
        rejections=rejections,
        rules=flag_rules(settings),
        unchanged=unchanged,
        announced=screening.announced,
    )
    return Outcome(source, ok=True, result=result, quotes=kept)


def process(
    engine: Engine,
    settings: Settings,
    spec: SourceSpec,
    body: bytes,
    *,
    observed_at: datetime,
    started_at: datetime,
    expected_day: date | None = None,
    not_after: date | None = None,
    max_gap: timedelta | None = None,
) -> Outcome:
    """Turn one fetched (or saved) body into stored spans, logging the poll either way."""
    try:
        quotes = spec.parse(body, observed_at)
    except ParseError as exc:
        return fail(engine, spec.name, started_at, f"unparseable response: {exc}")
    return store_quotes(
        engine,
        settings,
        spec.name,
        quotes,
        started_at=started_at,
        entries_seen=len(quotes),
        expected_day=expected_day,
        not_after=not_after,
        max_gap=max_gap,
    )
