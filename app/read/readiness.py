"""Readiness (`GET /ready`): can this process serve trustworthy data right now?

Three checks, each with its own detail, in order (a later one is skipped when an earlier one fails):

- database: a connection answers `SELECT 1`, within a few seconds (a dedicated, unpooled connection with a
  short connect timeout, so a database that is away makes the probe fail fast instead of hang);
- schema: the database is at the latest migration (a replica started before `fx-ticker db upgrade` is not);
- sources: at least one enabled source has polled successfully within its staleness bound
  (FX_SOURCE_<NAME>_MAX_GAP, three intervals by default). Read from the shared source state, so an API replica
  (role `api`, which never polls) answers for the poller too.

When the sources check fails it names the cause it saw. The process that polls knows its own failures, the ones
the database could not take included (a full disk: app.read.status.health); a replica knows what the database
holds, and that no poll was recorded since one was due (the poller stopped, or cannot write).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool
from sqlmodel import Session, col, select

from app.core.clock import utcnow
from app.core.jsonenc import iso
from app.core.logs import redact
from app.core.settings import Settings
from app.domain.health import PollerView
from app.read.status import Health, health, is_overdue
from app.sources.registry import cadence
from app.storage.dialect import missing_file
from app.storage.migrate import current_revision, head_revision
from app.storage.models import SourceState

CONNECT_TIMEOUT = 3  # seconds; libpq's minimum is 2


@dataclass(slots=True)
class Check:
    ok: bool
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, **self.extra}


@dataclass(slots=True)
class Readiness:
    checks: dict[str, Check]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks.values())

    def json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"status": "ready" if self.ready else "unready"}
        failed = next((f"{name}: {c.detail}" for name, c in self.checks.items() if not c.ok), None)
        if failed is not None:
            document["reason"] = failed
        document["checks"] = {name: check.json() for name, check in self.checks.items()}
        return document


@lru_cache(maxsize=8)
def probe_engine(database_url: str) -> Engine:
    """An engine that never pools (a probe must see the database as it is now) and gives up connecting fast."""
    if database_url.startswith("sqlite"):
        return create_engine(database_url, poolclass=NullPool, connect_args={"timeout": CONNECT_TIMEOUT})
    return create_engine(database_url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT})


@cache
def _head() -> str | None:
    return head_revision()


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return redact(f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": "))


def _database(engine: Engine) -> Check:
    missing = missing_file(engine)
    if missing is not None:
        return Check(False, f"unreachable (no database file at {missing})")  # connecting would create one
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return Check(False, f"unreachable ({_first_line(exc)})")
    return Check(True, "reachable")


def _schema(engine: Engine) -> Check:
    expected = _head()
    current = current_revision(engine)
    extra = {"current": current, "expected": expected}
    if current is None:
        return Check(False, f"no schema: migrations not applied (expected revision {expected})", extra)
    if current != expected:
        return Check(False, f"schema at revision {current}, not the latest {expected}", extra)
    return Check(True, f"at the latest revision {expected}", extra)


def _sources(engine: Engine, settings: Settings, now: datetime, views: Mapping[str, PollerView] | None) -> Check:
    # The latest polls of each source, as the store keeps them in source_state (one row each: no log scan), with
    # what the polling process knows and the database does not yet (when this process is it).
    with Session(engine) as session:
        rows = session.exec(select(SourceState).where(col(SourceState.source).in_(settings.sources))).all()
    stored = {row.source: row for row in rows}
    shown = {name: health(stored.get(name), views.get(name) if views else None) for name in settings.sources}
    detail: dict[str, Any] = {}
    fresh = []
    for name in settings.sources:
        # A source polls successfully at least once within its allowed gap (its cadence's), or its values lapse.
        gap = cadence(settings, name).max_gap
        bound = int(gap.total_seconds())
        when = shown[name].last_success_at
        ok = when is not None and now - when <= gap
        if ok:
            fresh.append(name)
        detail[name] = {"last_success": iso(when) if when else None, "within_seconds": bound, "fresh": ok}
    extra = {"sources": detail}
    unwritten = _unwritten(shown, views)
    if fresh:
        return Check(True, f"{len(fresh)} of {len(settings.sources)} enabled sources fresh{unwritten}", extra)
    cause = _cause(settings, shown, now, polling=views is not None)
    return Check(False, f"no enabled source has polled successfully within its staleness bound{cause}", extra)


def _latest_failure(shown: Mapping[str, Health]) -> tuple[str, Health] | None:
    failed = [(name, h) for name, h in shown.items() if h.last_error_at is not None]
    return max(failed, key=lambda item: item[1].last_error_at or datetime.min, default=None)


def _unwritten(shown: Mapping[str, Health], views: Mapping[str, PollerView] | None) -> str:
    """While fresh: failed polls this process could not write yet (the database cannot take them), and why."""
    waiting = sum(view.unrecorded for view in views.values()) if views else 0
    found = _latest_failure(shown)
    if not waiting or found is None:
        return ""
    return f"; {waiting} failed poll(s) wait to be written, the latest: {found[1].last_error}"


def _cause(settings: Settings, shown: Mapping[str, Health], now: datetime, *, polling: bool) -> str:
    """Why no source is fresh, as far as this process can tell: the latest failure it knows of; or, in a
    process that does not poll, that the poller has recorded nothing since polls were due."""
    attempts = [h.last_attempt_at for h in shown.values() if h.last_attempt_at is not None]
    if not attempts:
        return ": none has been polled yet"
    late = [is_overdue(settings, name, h, now) for name, h in shown.items()]
    if not polling and all(late):
        return (
            f"; no poll recorded since {iso(max(attempts))} though polls were due: the poller is stopped or "
            "cannot write to the database (its own /sources and /ready say which)"
        )
    found = _latest_failure(shown)
    if found is None:
        return ""
    name, failed = found
    assert failed.last_error_at is not None
    return f"; the latest failure: {name} at {iso(failed.last_error_at)}: {failed.last_error}"


def _guarded(name: str, run: Callable[[], Check]) -> Check:
    try:
        return run()
    except Exception as exc:  # a readiness probe answers 503 with the reason, never 500
        return Check(False, f"{name} check failed ({_first_line(exc)})")


def readiness(
    settings: Settings, now: datetime | None = None, views: Mapping[str, PollerView] | None = None
) -> Readiness:
    """`views`: each source as this process sees it, when it is the one polling (app.ingest.poller.view)."""
    engine = probe_engine(settings.database_url)
    now = now or utcnow()
    checks = {"database": _guarded("database", lambda: _database(engine))}
    if checks["database"].ok:
        checks["schema"] = _guarded("schema", lambda: _schema(engine))
    else:
        checks["schema"] = Check(False, "not checked: the database is unreachable")
    if checks["schema"].ok:
        checks["sources"] = _guarded("sources", lambda: _sources(engine, settings, now, views))
    else:
        why = "the database is unreachable" if not checks["database"].ok else "the schema is not current"
        checks["sources"] = Check(False, f"not checked: {why}")
    return Readiness(checks)
