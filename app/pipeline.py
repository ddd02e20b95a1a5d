"""parse -> validate -> collapse -> store for one snapshot of one source; shared by the poller and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from app.collapse import dedupe
from app.settings import Settings
from app.sources.base import ParseError, SourceSpec
from app.store import ApplyResult, apply_snapshot, record_failure


@dataclass(frozen=True, slots=True)
class Outcome:
    source: str
    ok: bool
    result: ApplyResult | None = None
    error: str | None = None

    def summary(self) -> str:
        if not self.ok or self.result is None:
            return f"{self.source}: error: {self.error}"
        r = self.result
        text = f"{self.source}: {r.outcome}, {r.entries_seen} entries, {r.opened} spans opened, {r.extended} extended"
        if r.rejections:
            text += "; rejected: " + "; ".join(str(x) for x in r.rejections)
        return text


def fail(engine: Engine, source: str, started_at: datetime, error: str) -> Outcome:
    record_failure(engine, source, started_at=started_at, error=error)
    return Outcome(source, ok=False, error=error)


def process(
    engine: Engine,
    settings: Settings,
    spec: SourceSpec,
    body: bytes,
    *,
    observed_at: datetime,
    started_at: datetime,
) -> Outcome:
    """Turn one fetched (or saved) body into stored spans, logging the poll either way."""
    try:
        quotes = spec.parse(body, observed_at)
    except ParseError as exc:
        return fail(engine, spec.name, started_at, f"unparseable response: {exc}")
    wanted = [q for q in quotes if q.currency in settings.currencies]
    if not wanted:
        return fail(engine, spec.name, started_at, "no configured currency in the response")
    kept, rejections = dedupe(wanted)
    result = apply_snapshot(
        engine,
        spec.name,
        kept,
        started_at=started_at,
        max_gap=timedelta(seconds=settings.source_max_gap(spec.name)),
        entries_seen=len(quotes),
        rejections=rejections,
    )
    return Outcome(spec.name, ok=True, result=result)
