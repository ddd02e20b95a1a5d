"""Per-source health as /sources shows it, read from the poll log, the source state and the flags."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.core.settings import Settings
from app.sources.registry import SOURCES
from app.storage.models import SUCCESS_OUTCOMES, PollLog, QuoteFlag, RateSpan, SourceState

RECENT_FLAGS = 10


def _last_poll(session: Session, source: str, outcomes: tuple[str, ...] | None = None) -> PollLog | None:
    statement = select(PollLog).where(PollLog.source == source)
    if outcomes is not None:
        statement = statement.where(col(PollLog.outcome).in_(outcomes))
    return session.exec(statement.order_by(col(PollLog.started_at).desc()).limit(1)).first()


def _last_with_rejections(session: Session, source: str) -> PollLog | None:
    statement = (
        select(PollLog)
        .where(PollLog.source == source, col(PollLog.rejections).is_not(None))
        .order_by(col(PollLog.started_at).desc())
        .limit(1)
    )
    return session.exec(statement).first()


def _flags(session: Session, source: str) -> tuple[int, list[dict[str, Any]]]:
    total = session.exec(select(func.count()).select_from(QuoteFlag).where(QuoteFlag.source == source)).one()
    recent = session.exec(
        select(QuoteFlag)
        .where(QuoteFlag.source == source)
        .order_by(col(QuoteFlag.raised_at).desc(), col(QuoteFlag.id).desc())
        .limit(RECENT_FLAGS)
    )
    return total, [
        {"currency": f.currency, "kind": f.kind, "detail": f.detail, "raised_at": f.raised_at} for f in recent
    ]


def _when(row: PollLog | None) -> datetime | None:
    return row.started_at if row is not None else None


def source_status(session: Session, settings: Settings, name: str) -> dict[str, Any]:
    spec = SOURCES[name]
    state = session.get(SourceState, name)
    failure = _last_poll(session, name, ("error", "rejected"))
    rejected = _last_with_rejections(session, name)
    spans = session.exec(select(func.count()).select_from(RateSpan).where(RateSpan.source == name)).one()
    flag_count, flags = _flags(session, name)
    quoted = [c for c in (spec.authoritative_for or settings.currencies) if c in settings.currencies]
    return {
        "name": name,
        "title": spec.title,
        "enabled": name in settings.sources,
        "authoritative_for": list(spec.authoritative_for),
        "currencies": quoted,
        "url": settings.source_url(name) if spec.fetches else None,
        "interval_seconds": settings.source_interval(name),
        "last_attempt": _when(_last_poll(session, name)),
        "last_success": _when(_last_poll(session, name, SUCCESS_OUTCOMES)),
        "last_error": failure.error if failure is not None else None,
        "last_error_at": _when(failure),
        "last_rejections": rejected.rejections if rejected is not None else None,
        "last_rejections_at": _when(rejected),
        "consecutive_failures": state.consecutive_failures if state is not None else 0,
        "backoff_until": state.backoff_until if state is not None else None,
        "next_poll": state.next_poll_at if state is not None else None,
        "spans_stored": spans,
        "flags_raised": flag_count,
        "recent_flags": flags,
        "attribution": spec.attribution,
    }


def all_sources(session: Session, settings: Settings) -> list[dict[str, Any]]:
    """Every known source, enabled ones first in order of preference."""
    order = [n for n in settings.source_priority if n in settings.sources]
    order += [n for n in SOURCES if n not in order]
    return [source_status(session, settings, name) for name in order]
