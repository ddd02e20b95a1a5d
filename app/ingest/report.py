"""What a finished poll tells the operator: one log line, and the poll metrics (app.core.metrics)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from app.core import metrics
from app.core.logs import MAX_ERROR_CHARS
from app.domain.outcome import PollOutcome
from app.ingest.pipeline import Outcome
from app.storage.engine import read_session, trouble
from app.storage.models import SourceState

log = logging.getLogger(__name__)


def zero(sources: Iterable[str]) -> None:
    """Create every poll series of a polling process at zero, so that a rate() over it starts from there."""
    for source in sources:
        for outcome in PollOutcome:
            metrics.POLLS.labels(source, outcome)
        metrics.POLL_SECONDS.labels(source)
        metrics.RUNS_SKIPPED.labels(source)
        metrics.UNRECORDED.labels(source).set(0)
        metrics.SPANS_OPENED.labels(source)
        metrics.SPANS_EXTENDED.labels(source)


def seed(engine: Engine, sources: Sequence[str]) -> None:
    """A polling process starts with what the database knows: each source's last success and its rows, as the
    store keeps them in source_state (one row per source: nothing is counted)."""
    try:
        with read_session(engine) as session:
            rows = session.exec(select(SourceState).where(col(SourceState.source).in_(sources)))
            states = {state.source: state for state in rows}
    except Exception as exc:  # metrics must never stop the service
        warn(log, "could not read the source state for the metrics", exc, trouble(exc))
        return
    for source in sources:
        state = states.get(source)
        if state is not None and state.last_success_at is not None:
            metrics.LAST_SUCCESS.labels(source).set(state.last_success_at.timestamp())
        metrics.ROWS.labels(source).set(state.spans_stored if state is not None else 0)


def observe_poll(engine: Engine, outcome: Outcome, seconds: float, *, count_rows: bool = True) -> None:
    """Everything a finished poll tells the metrics: `count_poll`, `time_poll`, then (unless `count_rows` is False
    because the database is away) `count_spans`, which reads the source's row."""
    count_poll(outcome)
    time_poll(outcome.source, seconds)
    if count_rows:
        count_spans(engine, outcome.source)


def time_poll(source: str, seconds: float) -> None:
    """How long a poll ran, start to end: the poller times the whole run, bookkeeping after the store included,
    since that is what a slow database costs the schedule (a run longer than the interval skips the next)."""
    metrics.POLL_SECONDS.labels(source).observe(seconds)


def count_poll(outcome: Outcome) -> None:
    """What a finished poll tells the metrics, at once: no database (a poll it could not take counts too)."""
    source = outcome.source
    metrics.POLLS.labels(source, outcome.status).inc()
    if outcome.result is not None:
        metrics.SPANS_OPENED.labels(source).inc(outcome.result.opened)
        metrics.SPANS_EXTENDED.labels(source).inc(outcome.result.extended)
    if outcome.status.succeeded:
        metrics.LAST_SUCCESS.labels(source).set(time.time())


def count_spans(engine: Engine, source: str) -> None:
    """The source's rows, as its state row counts them (the poller calls it in a worker thread after a poll)."""
    try:
        with read_session(engine) as session:
            state = session.get(SourceState, source)
        metrics.ROWS.labels(source).set(state.spans_stored if state is not None else 0)
    except Exception as exc:  # a poll may end just as the database goes away
        warn(log, f"could not count the stored spans of {source} for the metrics", exc, trouble(exc))


def warn(logger: logging.Logger, what: str, exc: Exception, away: str | None) -> None:
    """One line when the database is away (`away` says how: an outage to wait out); the traceback too for
    anything else (a bug)."""
    if away is not None:
        logger.warning("%s: database unavailable: %s", what, away)
    else:
        logger.warning("%s", what, exc_info=exc)


def poll_fields(outcome: Outcome, seconds: float) -> dict[str, Any]:
    result = outcome.result
    error = outcome.error
    return {
        "source": outcome.source,
        "outcome": str(outcome.status),
        "entries": result.entries_seen if result is not None else 0,
        "spans_opened": result.opened if result is not None else 0,
        "spans_extended": result.extended if result is not None else 0,
        "rejections": len(result.rejections) if result is not None else 0,
        "flags": len(result.flags) if result is not None else 0,
        "duration_ms": round(seconds * 1000, 1),
        "error": error[:MAX_ERROR_CHARS] if error else None,
    }


def log_poll(logger: logging.Logger, outcome: Outcome, seconds: float) -> None:
    """The one line per poll: INFO when it went well, WARNING when the source failed."""
    level = logging.INFO if outcome.ok else logging.WARNING
    fields = poll_fields(outcome, seconds)
    logger.log(level, "poll %s %s", outcome.source, outcome.status, extra={"fields": fields})
