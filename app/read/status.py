"""Per-source health as /sources shows it, read from the source state (which the store keeps current with the
poll log and the spans, so nothing here counts or searches them) and the latest flags."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from app.core.clock import utcnow
from app.core.logs import redact
from app.core.settings import Settings
from app.sources.registry import SOURCES
from app.storage.models import QuoteFlag, SourceState

RECENT_FLAGS = 10


def _recent_flags(session: Session, source: str) -> list[dict[str, Any]]:
    recent = session.exec(
        select(QuoteFlag)
        .where(QuoteFlag.source == source)
        .order_by(col(QuoteFlag.raised_at).desc(), col(QuoteFlag.id).desc())
        .limit(RECENT_FLAGS)
    )
    return [{"currency": f.currency, "kind": f.kind, "detail": f.detail, "raised_at": f.raised_at} for f in recent]


def source_status(session: Session, settings: Settings, name: str) -> dict[str, Any]:
    return _status(session, settings, name, session.get(SourceState, name))


def _status(session: Session, settings: Settings, name: str, state: SourceState | None) -> dict[str, Any]:
    spec = SOURCES[name]
    # A source never polled has no row yet: it shows what an empty one holds.
    state = state or SourceState(source=name, updated_at=utcnow())
    quoted = [c for c in (spec.authoritative_for or settings.currencies) if c in settings.currencies]
    return {
        "name": name,
        "title": spec.title,
        "enabled": name in settings.sources,
        "authoritative_for": list(spec.authoritative_for),
        "currencies": quoted,
        "url": redact(settings.source_url(name)) if spec.fetches else None,  # public: no key or password in it
        "interval_seconds": settings.source_interval(name),
        "last_attempt": state.last_attempt_at,
        "last_success": state.last_success_at,
        "last_error": state.last_error,
        "last_error_at": state.last_error_at,
        "last_rejections": state.last_rejections,
        "last_rejections_at": state.last_rejections_at,
        "consecutive_failures": state.consecutive_failures,
        "backoff_until": state.backoff_until,
        "next_poll": state.next_poll_at,
        "spans_stored": state.spans_stored,
        "flags_raised": state.flags_raised,
        "recent_flags": _recent_flags(session, name) if state.flags_raised else [],
        "attribution": spec.attribution,
    }


def all_sources(session: Session, settings: Settings) -> list[dict[str, Any]]:
    """Every known source, enabled ones first in order of preference."""
    order = [n for n in settings.source_priority if n in settings.sources]
    order += [n for n in SOURCES if n not in order]
    states = {state.source: state for state in session.exec(select(SourceState))}
    return [_status(session, settings, name, states.get(name)) for name in order]
