"""Per-source health as /sources shows it, read from the source state (which the store keeps current with the
poll log and the spans, so nothing here counts or searches them) and the latest flags.

In the process that polls, what its memory holds and the database does not yet (a failure it could not write,
its back-off, the runs its scheduler skipped: app.domain.health.PollerView) is laid over that, newer over older,
so /sources shows a full disk while it lasts. Elsewhere (an API replica) those fields are null: nothing there
knows them; `overdue` says, from the database alone, that a poll that was due has not been recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from app.core.clock import utcnow
from app.core.logs import redact
from app.core.settings import Settings
from app.domain.health import PollerView, latest, newer, overdue
from app.sources.registry import SOURCES, not_served_because
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


@dataclass(frozen=True, slots=True)
class Health:
    """A source's latest polls as shown: the state row, with the polling process's memory laid over it."""

    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    backoff_until: datetime | None = None
    next_poll_at: datetime | None = None


def health(stored: SourceState | None, view: PollerView | None) -> Health:
    """The latest attempt, success and failure, the newer of the row's and the poller's; failures in a row,
    back-off and next poll from the poller when it is this process (its memory is current, the row may not be)."""
    row = Health() if stored is None else Health(
        stored.last_attempt_at, stored.last_success_at, stored.last_error, stored.last_error_at,
        stored.consecutive_failures, stored.backoff_until, stored.next_poll_at,
    )  # fmt: skip
    if view is None:
        return row
    failed = newer(view.last_error_at, row.last_error_at)
    return Health(
        last_attempt_at=latest(row.last_attempt_at, view.last_attempt_at),
        last_success_at=latest(row.last_success_at, view.last_success_at),
        last_error=view.last_error if failed else row.last_error,
        last_error_at=view.last_error_at if failed else row.last_error_at,
        consecutive_failures=view.consecutive_failures,
        backoff_until=view.backoff_until,
        next_poll_at=view.next_poll_at,
    )


def grace(settings: Settings, name: str) -> timedelta:
    """How long after it was due a poll may take to be recorded: its jitter, its fetch and its database deadline."""
    return timedelta(seconds=settings.poll_jitter + settings.http_timeout + settings.poll_deadline_for(name))


def due(settings: Settings, name: str, shown: Health) -> datetime | None:
    """When the next poll of a source was due: the poller's plan (`next_poll_at`, or the end of a back-off), or
    one interval after its last attempt when no scheduler planned it (`fx-ticker poll --once`)."""
    if shown.next_poll_at is not None:
        return shown.next_poll_at
    if shown.last_attempt_at is not None:
        return shown.last_attempt_at + timedelta(seconds=settings.source_interval(name))
    return None


def is_overdue(settings: Settings, name: str, shown: Health, now: datetime) -> bool | None:
    """Whether no poll of an enabled source has been recorded since one was due (plus its grace): the poller is
    stopped, stuck, or cannot write to the database. None for a disabled or never-polled source."""
    if name not in settings.sources:
        return None
    return overdue(due(settings, name, shown), grace(settings, name), now)


def source_status(
    session: Session, settings: Settings, name: str, views: Mapping[str, PollerView] | None = None
) -> dict[str, Any]:
    return _status(session, settings, name, session.get(SourceState, name), views)


def _status(
    session: Session,
    settings: Settings,
    name: str,
    stored: SourceState | None,
    views: Mapping[str, PollerView] | None,
) -> dict[str, Any]:
    spec = SOURCES[name]
    view = views.get(name) if views is not None else None
    shown = health(stored, view)
    # A source never polled has no row yet: it shows what an empty one holds.
    state = stored or SourceState(source=name, updated_at=utcnow())
    why_not = not_served_because(settings, name)
    # A bank's table may list any served currency (/currencies says which it has); the peg states only its own.
    own = spec.authoritative_for if spec.home_currency is None else ()
    quoted = [c for c in (own or settings.currencies) if c in settings.currencies]
    return {
        "name": name,
        "title": spec.title,
        "enabled": name in settings.sources,
        "authoritative_for": list(spec.authoritative_for),
        "currencies": quoted,
        "url": redact(settings.source_url(name)) if spec.fetches else None,  # public: no key or password in it
        "interval_seconds": settings.source_interval(name),
        "publishes": spec.publication.value,
        "last_attempt": shown.last_attempt_at,
        "last_success": shown.last_success_at,
        "last_error": shown.last_error,
        "last_error_at": shown.last_error_at,
        "last_rejections": state.last_rejections,
        "last_rejections_at": state.last_rejections_at,
        "consecutive_failures": shown.consecutive_failures,
        "backoff_until": shown.backoff_until,
        "next_poll": shown.next_poll_at,
        "overdue": is_overdue(settings, name, shown, utcnow()),
        "unrecorded": view.unrecorded if view is not None else None,
        "runs_skipped": view.runs_skipped if view is not None else None,
        "last_run_skipped_at": view.last_run_skipped_at if view is not None else None,
        "spans_stored": state.spans_stored,
        "flags_raised": state.flags_raised,
        "recent_flags": _recent_flags(session, name) if state.flags_raised else [],
        "attribution": spec.attribution,
        "served": why_not is None,
        "not_served_because": why_not,
    }


def all_sources(
    session: Session, settings: Settings, views: Mapping[str, PollerView] | None = None
) -> list[dict[str, Any]]:
    """Every known source, enabled ones first in order of preference; `views`: the polling process's own."""
    order = [n for n in settings.source_priority if n in settings.sources]
    order += [n for n in SOURCES if n not in order]
    states = {state.source: state for state in session.exec(select(SourceState))}
    return [_status(session, settings, name, states.get(name), views) for name in order]
