"""Applies one source snapshot to the database in one transaction, following app.collapse."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache

from sqlalchemy import Engine, text, update
from sqlmodel import Session, col, select

from app.collapse import Action, OpenSpan, Rejection, decide
from app.db import is_sqlite, lock_key, write_session
from app.domain import Quote, utcnow
from app.models import DataVersion, PollLog, RateSpan


@dataclass(slots=True)
class ApplyResult:
    entries_seen: int = 0
    opened: int = 0
    extended: int = 0
    ignored: int = 0
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return "partial" if self.rejections else "ok"


@cache
def _writer_lock(engine: Engine) -> int:
    return lock_key(engine, "store")


def _serialize_writers(session: Session, engine: Engine) -> None:
    """Store transactions read the open span and then write: two at once would both extend it.

    SQLite serializes them with BEGIN IMMEDIATE (app.db); PostgreSQL with a transaction-level advisory lock.
    """
    if not is_sqlite(engine):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _writer_lock(engine)})


def open_span(session: Session, currency: str, source: str) -> RateSpan | None:
    statement = (
        select(RateSpan)
        .where(RateSpan.currency == currency, RateSpan.source == source)
        .order_by(col(RateSpan.first_seen).desc())
        .limit(1)
    )
    return session.exec(statement).first()


def _apply_quote(session: Session, quote: Quote, max_gap: timedelta) -> Action:
    span = open_span(session, quote.currency, quote.source)
    state = (
        OpenSpan(Decimal(span.value), span.per_usd, span.last_seen, span.effective_date) if span is not None else None
    )
    action = decide(quote, state, max_gap)
    change = str(quote.reported_change_pct) if quote.reported_change_pct is not None else None
    if action is Action.EXTEND and span is not None:
        span.last_seen = quote.observed_at
        span.observations += 1
        span.reported_change_pct = change
        session.add(span)
    elif action is Action.OPEN:
        session.add(
            RateSpan(
                currency=quote.currency,
                source=quote.source,
                value=str(quote.value),
                per_usd=quote.per_usd,
                first_seen=quote.observed_at,
                last_seen=quote.observed_at,
                observations=1,
                effective_date=quote.effective_date,
                reported_change_pct=change,
            )
        )
    return action


def bump_version(session: Session) -> None:
    session.execute(update(DataVersion).where(col(DataVersion.id) == 1).values(version=DataVersion.version + 1))


def _log_row(source: str, started_at: datetime, result: ApplyResult, outcome: str, error: str | None) -> PollLog:
    return PollLog(
        source=source,
        started_at=started_at,
        finished_at=utcnow(),
        outcome=outcome,
        poller=f"{socket.gethostname()}:{os.getpid()}",
        error=error,
        entries_seen=result.entries_seen,
        spans_opened=result.opened,
        spans_extended=result.extended,
    )


def apply_snapshot(
    engine: Engine,
    source: str,
    quotes: Sequence[Quote],
    *,
    started_at: datetime,
    max_gap: timedelta,
    entries_seen: int,
    rejections: Sequence[Rejection] = (),
) -> ApplyResult:
    """Store one deduplicated snapshot and its poll-log row: all of it, or (on any error) none of it."""
    result = ApplyResult(entries_seen=entries_seen, rejections=list(rejections))
    with write_session(engine) as session:
        _serialize_writers(session, engine)
        for quote in quotes:
            action = _apply_quote(session, quote, max_gap)
            session.flush()
            result.opened += action is Action.OPEN
            result.extended += action is Action.EXTEND
            result.ignored += action is Action.IGNORE
        error = "; ".join(str(r) for r in result.rejections) or None
        session.add(_log_row(source, started_at, result, result.outcome, error))
        bump_version(session)
    return result


def record_failure(engine: Engine, source: str, *, started_at: datetime, error: str, entries_seen: int = 0) -> None:
    """A poll that stored nothing still leaves its row, so the failure is visible in the log and the API."""
    with write_session(engine) as session:
        session.add(_log_row(source, started_at, ApplyResult(entries_seen=entries_seen), "error", error[:2000]))
        bump_version(session)
