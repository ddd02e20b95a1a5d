"""Applies one source snapshot to the database in one transaction, following app.domain.collapse: a quote later
than its series' latest sighting extends or opens the latest span; an older one (a saved page loaded late) is
placed into the series' history by the same rules as backfilled history.

Every transaction that changes spans also brings the hourly and daily rollups (app.ingest.rollup) up to date before
it commits, and every one that changes spans or writes a poll-log row brings the source's counts in source_state up to
date.

Each statement a poll runs finds its rows through an index (the series' latest span, the hours it touched and the 24
day rows holding each, the source's state row), so a poll costs the same on a store holding years of history as on
an empty one.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    case,
    func,
    or_,
    update,
)
from sqlalchemy.engine import Dialect
from sqlmodel import Session, col, select

from app.core.clock import utcnow
from app.core.logs import redact
from app.domain.collapse import Action, Neighbours, OpenSpan, Placement, Rejection, conflict, decide, place
from app.domain.freshness import Cadence
from app.domain.outcome import PollOutcome
from app.domain.quotes import Quote
from app.domain.validate import Flag, jump_flag, spread_flags
from app.domain.values import Value
from app.ingest import pairs, rollup
from app.storage.dialect import insert, serialize_writers
from app.storage.engine import write_session
from app.storage.models import (
    DataVersion,
    FetchedDay,
    PollLog,
    QuoteFlag,
    RateAnnouncement,
    RateSpan,
    SourceState,
)
from app.storage.spans import latest_spans

STATE: Table = SourceState.__table__  # type: ignore[attr-defined]
ANNOUNCED: Table = RateAnnouncement.__table__  # type: ignore[attr-defined]
# Series looked up per statement: SQLite allows at most 500 terms in a compound SELECT.


@dataclass(frozen=True, slots=True)
class FlagRules:
    """When a newly stored value is flagged: see app.domain.validate."""

    jump_pct: Decimal
    spread_pct: Decimal
    # How long each source's values hold (app.domain.freshness): another source's value counts for a
    # disagreement only while it is in force.
    cadences: Mapping[str, Cadence] = field(default_factory=dict)


@dataclass(slots=True)
class ApplyResult:
    entries_seen: int = 0
    opened: int = 0
    # Quotes added to a stored span: extended, begun earlier, joined with the next, or one more sighting inside it
    # (history placed in any order). So every observation stored is accounted for: opened plus extended.
    extended: int = 0
    ignored: int = 0  # sightings a span of the same value already held (its first or last): "already stored"
    announced: int = 0  # rates for a later day, kept apart until it comes (app.domain.validate.screen)
    joined: int = 0  # spans removed because a quote bridged them with the one before
    rejections: list[Rejection] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    unchanged: bool = False  # the upstream said 304: the previous quotes were confirmed, not re-read

    @property
    def outcome(self) -> PollOutcome:
        if self.unchanged:
            return PollOutcome.UNCHANGED
        return PollOutcome.PARTIAL if self.rejections else PollOutcome.OK


def _others(session: Session, quote: Quote, cadences: Mapping[str, Cadence]) -> dict[str, Value]:
    """The value of every other source for this currency still in force when the quote was seen (by its source's
    freshness rule, app.domain.freshness): a value no longer in force is no one's word against this one.

    The span each other series had begun by then: a quote placed late into history is compared with the values
    of its own moment, not with today's. Spans never overlap, so if that one has lapsed by then, all have.
    """
    series = [(quote.currency, source) for source in cadences if source != quote.source]
    moment = quote.observed_at
    return {
        source: span.published
        for (_, source), span in latest_spans(session, series, at=moment).items()
        if cadences[source].state(span, moment).in_force
    }


def _flag(session: Session, quote: Quote, previous: RateSpan | None, rules: FlagRules | None) -> list[Flag]:
    """The flags of a quote that opens a span, stored beside it: a jump from `previous`, the span before it in
    time (the open span for a live quote; for a late one, its neighbour in history, never the newest value),
    and disagreements with the other sources then. A value the same as the previous one raises none."""
    if rules is None or (previous is not None and previous.published.same_rate(quote.value)):
        return []
    jump = jump_flag(quote, previous.published if previous is not None else None, rules.jump_pct)
    flags = ([jump] if jump else []) + spread_flags(quote, _others(session, quote, rules.cadences), rules.spread_pct)
    session.add_all(
        QuoteFlag(source=f.source, currency=f.currency, raised_at=quote.observed_at, kind=f.kind, detail=f.detail)
        for f in flags
    )
    return flags


def open_spans(session: Session, source: str, currencies: Sequence[str]) -> dict[str, RateSpan]:
    """The latest span of each of `currencies` from `source`, in one statement of index lookups."""
    return {currency: span for (currency, _), span in latest_spans(session, [(c, source) for c in currencies]).items()}


def _open_span(span: RateSpan) -> OpenSpan:
    return OpenSpan(span.published, span.first_seen, span.last_seen, span.effective_date)


def _state(span: RateSpan | None) -> OpenSpan | None:
    return _open_span(span) if span is not None else None


def _change(quote: Quote) -> str | None:
    """The change the source printed beside the value, as a span keeps that of its last sighting."""
    return str(quote.reported_change_pct) if quote.reported_change_pct is not None else None


def _new_span(quote: Quote) -> RateSpan:
    """A span of one observation: the value exactly as published, in the source's direction."""
    return RateSpan(
        currency=quote.currency,
        source=quote.source,
        value=quote.value.text,
        per_usd=quote.value.per_usd,
        first_seen=quote.observed_at,
        last_seen=quote.observed_at,
        observations=1,
        effective_date=quote.effective_date,
        reported_change_pct=_change(quote),
        next_update=quote.next_update,
    )


def _apply_quote(
    session: Session, quote: Quote, max_gap: timedelta, rules: FlagRules | None = None, span: RateSpan | None = None
) -> tuple[Action, list[Flag]]:
    """Extend or open the latest span `span` of the quote's series with a quote later than it (a LATE one is
    left to `_place_quote`)."""
    action = decide(quote, _state(span), max_gap)
    flags: list[Flag] = []
    if action is Action.EXTEND and span is not None:
        span.last_seen = quote.observed_at
        span.observations += 1
        span.reported_change_pct = _change(quote)
        # The span's effective date is the latest date the source has stated the value for: a bank
        # repeating 3.50 every day keeps one span whose effective date stays current.
        span.effective_date = _later(span.effective_date, quote.effective_date)
        span.next_update = _latest(span.next_update, quote.next_update)
        session.add(span)
    elif action is Action.OPEN:
        session.add(_new_span(quote))
        flags = _flag(session, quote, span, rules)
    return action, flags


def bump_version(session: Session) -> None:
    session.execute(update(DataVersion).where(col(DataVersion.id) == 1).values(version=DataVersion.version + 1))


def _joined(items: Sequence[object]) -> str | None:
    return "; ".join(str(item) for item in items)[:4000] or None


def _logged(log: PollLog) -> dict[str, Any]:
    """What a poll-log row says of its source's latest attempt, success, failure and rejections."""
    failed = not PollOutcome(log.outcome).succeeded
    return {
        "last_attempt_at": log.started_at,
        "last_success_at": log.started_at if PollOutcome(log.outcome).succeeded else None,
        "last_error_at": log.started_at if failed else None,
        "last_error": log.error if failed else None,
        "last_rejections_at": log.started_at if log.rejections is not None else None,
        "last_rejections": log.rejections,
    }


# Each latest outcome: the time it happened, and what it said.
_LATEST = (("last_attempt_at",), ("last_success_at",), ("last_error_at", "last_error"),
           ("last_rejections_at", "last_rejections"))  # fmt: skip


@lru_cache(maxsize=16)
def _upsert(dialect: Dialect, logged: bool) -> Any:
    """The state row's upsert (the values are bound when it runs), built once per database and kind and reused,
    so that SQLAlchemy compiles it once. The counts add up; each latest outcome is replaced by the new row's
    when that is set and not older than the stored one: the latest by started_at, as the poll log orders them,
    whatever order the rows were written in."""
    statement = insert(dialect, STATE)
    new, old = statement.excluded, STATE.c
    changes: dict[str, ColumnElement[Any]] = {c: old[c] + new[c] for c in ("spans_stored", "flags_raised")}
    for at, *said in _LATEST if logged else ():
        newer = and_(new[at].is_not(None), or_(old[at].is_(None), new[at] >= old[at]))
        changes |= {c: case((newer, new[c]), else_=old[c]) for c in (at, *said)}
    return statement.on_conflict_do_update(index_elements=["source"], set_=changes)


def _account(conn: Connection, source: str, *, spans: int = 0, flags: int = 0, log: PollLog | None = None) -> None:
    """Bring the source's state row up to date with what this transaction stored: `spans` more spans (fewer if
    negative), `flags` more flags, and the poll-log row `log`. One upsert of the primary key, computed in SQL so
    that two transactions at once (a poll and a failure record, say) both count."""
    values: dict[str, Any] = {"source": source, "consecutive_failures": 0, "updated_at": utcnow(),
                              "spans_stored": spans, "flags_raised": flags}  # fmt: skip
    if log is not None:
        values |= _logged(log)
    conn.execute(_upsert(conn.dialect, log is not None), values)


def _log(session: Session, log: PollLog, *, spans: int = 0, flags: int = 0) -> None:
    """The poll-log row, and the source's state row that /sources reads, in this transaction."""
    session.add(log)
    _account(session.connection(), log.source, spans=spans, flags=flags, log=log)


def _log_row(
    source: str,
    started_at: datetime,
    result: ApplyResult,
    outcome: PollOutcome,
    error: str | None,
    finished_at: datetime | None = None,
) -> PollLog:
    return PollLog(
        source=source,
        started_at=started_at,
        finished_at=finished_at or utcnow(),
        outcome=outcome,
        poller=f"{socket.gethostname()}:{os.getpid()}",
        error=redact(error) if error else error,  # an upstream error names its URL: no secret of it is kept
        entries_seen=result.entries_seen,
        spans_opened=result.opened,
        spans_extended=result.extended,
        rejections=_joined(result.rejections),
        flags=_joined(result.flags),
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
    rules: FlagRules | None = None,
    unchanged: bool = False,
    announced: Sequence[Quote] = (),
) -> ApplyResult:
    """Store one deduplicated snapshot (the rates in force, and those `announced` for a later day) and its poll-log
    row: all of it, or (on any error) none of it."""
    result = ApplyResult(entries_seen=entries_seen, rejections=list(rejections), unchanged=unchanged)
    with write_session(engine) as session:
        serialize_writers(session, engine)
        result.announced = _announce(session.connection(), announced)
        spans = open_spans(session, source, sorted({q.currency for q in quotes}))
        extended: list[rollup.Extension] = []
        touched: set[rollup.Key] = set()  # hours whose rollup rows are recomputed
        for quote in quotes:
            span = spans.get(quote.currency)
            previous_seen = span.last_seen if span is not None else None
            action, flags = _apply_quote(session, quote, max_gap, rules, span)
            result.opened += action is Action.OPEN
            result.extended += action is Action.EXTEND
            result.flags.extend(flags)
            if action is Action.EXTEND and span is not None:
                # The open span is the last begun of its series, so the last of its hour's row.
                extended.append(
                    rollup.Extension(span.currency, span.source, span.first_seen, span.last_seen, previous_seen)
                )
            elif action is Action.OPEN:
                touched.add((quote.currency, quote.source, rollup.hour_of(quote.observed_at)))
            elif action is Action.LATE:
                placed = _place_quote(session, quote, max_gap, touched, rules)
                _tally(result, quote, placed)
                if placed.placement is Placement.BRIDGE and placed.after is span and placed.before is not None:
                    spans[quote.currency] = placed.before  # the latest span was joined to the one before it
        if extended or touched:
            session.flush()
            rollup.extend(session.connection(), extended)
            rollup.refresh(session.connection(), touched)
            pairs.follow(session.connection(), touched, extended)
        log = _log_row(source, started_at, result, result.outcome, None)
        _log(session, log, spans=result.opened - result.joined, flags=len(result.flags))
        bump_version(session)
    return result


@lru_cache(maxsize=16)
def _announcement_upsert(dialect: Dialect) -> Any:
    """A rate announced again keeps its first sighting; the latest sighting says what the bank says now (a bank
    may correct an announcement before its day)."""
    statement = insert(dialect, ANNOUNCED)
    new, old = statement.excluded, ANNOUNCED.c
    newer = new.last_seen >= old.last_seen
    changes = {c: case((newer, new[c]), else_=old[c]) for c in ("value", "per_usd", "last_seen")}
    return statement.on_conflict_do_update(index_elements=["currency", "source", "effective_date"], set_=changes)


def _announce(conn: Connection, quotes: Sequence[Quote]) -> int:
    rows = [
        {"currency": q.currency, "source": q.source, "effective_date": q.effective_date, "value": str(q.value),
         "per_usd": q.value.per_usd, "first_seen": q.observed_at, "last_seen": q.observed_at}
        for q in quotes
    ]  # fmt: skip
    if rows:
        conn.execute(_announcement_upsert(conn.dialect), rows)
    return len(rows)


def record_failure(
    engine: Engine,
    source: str,
    *,
    started_at: datetime,
    error: str,
    entries_seen: int = 0,
    rejections: Sequence[Rejection] = (),
    outcome: PollOutcome = PollOutcome.ERROR,
    finished_at: datetime | None = None,
) -> None:
    """A poll that stored nothing still leaves its row, so the failure is visible in the log and the API.

    The data version is left alone: no rate changed, so no process rebuilds its snapshot and no cached answer or
    ETag changes (/sources, which shows the failure, is rendered on every request). `finished_at` is given for
    a row written later than its poll (the database was away then)."""
    result = ApplyResult(entries_seen=entries_seen, rejections=list(rejections))
    with write_session(engine) as session:
        _log(session, _log_row(source, started_at, result, outcome, error[:2000], finished_at))


def _neighbours(session: Session, quote: Quote) -> tuple[RateSpan | None, RateSpan | None]:
    series = (RateSpan.currency == quote.currency, RateSpan.source == quote.source)
    before = session.exec(
        select(RateSpan)
        .where(*series, col(RateSpan.first_seen) <= quote.observed_at)
        .order_by(col(RateSpan.first_seen).desc())
        .limit(1)
    ).first()
    after = session.exec(
        select(RateSpan)
        .where(*series, col(RateSpan.first_seen) > quote.observed_at)
        .order_by(col(RateSpan.first_seen))
        .limit(1)
    ).first()
    return before, after


def _later(a: date | None, b: date | None) -> date | None:
    return max(a, b) if a is not None and b is not None else (a or b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    """The later of two announced next updates: a span holds the latest announcement of its value."""
    return max(a, b) if a is not None and b is not None else (a or b)


@dataclass(frozen=True, slots=True)
class _Placed:
    """Where `_place_quote` put a quote, between which spans, and the flags it raised."""

    placement: Placement
    before: RateSpan | None  # the span begun last at or before the quote: the one it follows or falls inside
    after: RateSpan | None  # the next one
    flags: list[Flag]


def _place_quote(
    session: Session, quote: Quote, max_gap: timedelta, touched: set[rollup.Key], rules: FlagRules | None = None
) -> _Placed:
    """Place one quote into its series' history (a backfilled day, or a page older than the latest sighting);
    `touched` gets the rollup hours whose spans changed. Every span a quote joins ends up as it would have had
    the quotes come in order: its effective date the latest stated, its printed change that of its last sighting.
    """
    before, after = _neighbours(session, quote)
    around = Neighbours(
        _state(before),
        after.published if after is not None else None,
        after.first_seen if after is not None else None,
    )
    placement = place(quote, around, max_gap)
    hours = {
        Placement.EXTEND: [before],
        Placement.PREPEND: [after],  # the hour it began in; the one it now begins in is the quote's
        Placement.BRIDGE: [before, after],
    }.get(placement, [])
    touched.update((s.currency, s.source, rollup.hour_of(s.first_seen)) for s in hours if s is not None)
    if placement in (Placement.PREPEND, Placement.OPEN):
        touched.add((quote.currency, quote.source, rollup.hour_of(quote.observed_at)))
    flags: list[Flag] = []
    if placement is Placement.WITHIN and before is not None:
        # A sighting between the span's first and last that it has not counted (apply_history skips the days
        # stored before; a page is ingested once): the span already says so, and now has one more observation.
        before.observations += 1
        before.effective_date = _later(before.effective_date, quote.effective_date)
        before.next_update = _latest(before.next_update, quote.next_update)
    elif placement is Placement.EXTEND and before is not None:
        before.last_seen = quote.observed_at
        before.observations += 1
        before.effective_date = _later(before.effective_date, quote.effective_date)
        before.next_update = _latest(before.next_update, quote.next_update)
        before.reported_change_pct = _change(quote)
    elif placement is Placement.PREPEND and after is not None:
        after.first_seen = quote.observed_at
        after.observations += 1
        after.effective_date = _later(after.effective_date, quote.effective_date)
        after.next_update = _latest(after.next_update, quote.next_update)
    elif placement is Placement.BRIDGE and before is not None and after is not None:
        before.last_seen = after.last_seen
        before.observations += after.observations + 1
        before.effective_date = _later(_later(before.effective_date, after.effective_date), quote.effective_date)
        before.next_update = _latest(_latest(before.next_update, after.next_update), quote.next_update)
        before.reported_change_pct = after.reported_change_pct
        session.delete(after)
    elif placement is Placement.OPEN:
        session.add(_new_span(quote))
        flags = _flag(session, quote, before, rules)
    session.flush()
    return _Placed(placement, before, after, flags)


def _tally(result: ApplyResult, quote: Quote, placed: _Placed) -> None:
    """Count a placed quote in `result`: a conflict is a rejection, with its reason."""
    placement = placed.placement
    result.opened += placement is Placement.OPEN
    result.extended += placement in (Placement.EXTEND, Placement.PREPEND, Placement.BRIDGE, Placement.WITHIN)
    result.ignored += placement is Placement.IGNORE
    result.joined += placement is Placement.BRIDGE
    result.flags.extend(placed.flags)
    if placement is Placement.CONFLICT and placed.before is not None:
        result.rejections.append(conflict(quote, _open_span(placed.before)))


def apply_history(
    engine: Engine,
    source: str,
    quotes: Sequence[Quote],
    *,
    days: dict[date, str],
    max_gap: timedelta,
    again: bool = False,
) -> ApplyResult:
    """Store backfilled quotes wherever they fall in the series, and mark `days` ({day: outcome}) fetched,
    in one transaction: an interrupted backfill resumes at the first day not marked. The quotes of a day marked
    before are left out, unless `again`: then only the series with no span holding that moment take them (a
    currency added to the served set since), so nothing stored is counted twice."""
    result = ApplyResult(entries_seen=len(quotes))
    with write_session(engine) as session:
        serialize_writers(session, engine)
        stored = _days_marked(session, source, {q.observed_at.date() for q in quotes})
        fresh = [q for q in quotes if q.observed_at.date() not in stored or (again and not _held(session, q))]
        touched: set[rollup.Key] = set()
        for quote in sorted(fresh, key=lambda q: (q.currency, q.observed_at)):
            _tally(result, quote, _place_quote(session, quote, max_gap, touched))
        rollup.refresh(session.connection(), touched)
        pairs.follow(session.connection(), touched)
        if result.opened or result.joined:
            _account(session.connection(), source, spans=result.opened - result.joined)
        for day, outcome in days.items():
            session.merge(FetchedDay(source=source, day=day, outcome=outcome))
        bump_version(session)
    return result


def _held(session: Session, quote: Quote) -> bool:
    """Whether a span of the quote's series already holds its moment."""
    statement = select(RateSpan.id).where(
        RateSpan.currency == quote.currency,
        RateSpan.source == quote.source,
        RateSpan.first_seen <= quote.observed_at,
        RateSpan.last_seen >= quote.observed_at,
    )
    return session.exec(statement.limit(1)).first() is not None


def _days_marked(session: Session, source: str, days: set[date]) -> set[date]:
    if not days:
        return set()
    rows = session.exec(select(FetchedDay).where(FetchedDay.source == source, col(FetchedDay.day).in_(days)))
    return {row.day for row in rows}


def fetched_days(engine: Engine, source: str, start: date, end: date) -> set[date]:
    with Session(engine) as session:
        rows = session.exec(
            select(FetchedDay).where(
                FetchedDay.source == source, col(FetchedDay.day) >= start, col(FetchedDay.day) <= end
            )
        )
        return {row.day for row in rows}


def rebuild_rollup(engine: Engine) -> int:
    """Recompute the hourly and daily rollups, those of the pairs, and each source's counts of spans and flags,
    in one transaction (after spans were loaded around the store, e.g. a bulk insert); returns the rollup rows
    written."""
    with write_session(engine) as session:
        serialize_writers(session, engine)
        written = rollup.rebuild(session.connection()) + pairs.rebuild(session.connection())
        _recount(session.connection())
        return written


def _recount(conn: Connection) -> None:
    """Set every source's spans_stored and flags_raised to what rate_span and quote_flag hold: one pass over each."""
    spans = dict(conn.execute(select(RateSpan.source, func.count()).group_by(RateSpan.source)).all())
    flags = dict(conn.execute(select(QuoteFlag.source, func.count()).group_by(QuoteFlag.source)).all())
    conn.execute(update(STATE).values(spans_stored=0, flags_raised=0))
    for source in spans.keys() | flags.keys():
        _account(conn, source)  # the row, if there is none yet
        counts = {"spans_stored": spans.get(source, 0), "flags_raised": flags.get(source, 0)}
        conn.execute(update(STATE).where(STATE.c.source == source).values(counts))
