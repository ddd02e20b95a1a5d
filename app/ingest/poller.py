"""The scheduled polls: fetch each source, run the pipeline, back off a failing source, and tell the API
its snapshot is out of date. One source failing never touches another: each has its own job and state.

A poll never fails silently. When the database itself is away, the poll is still an `error` outcome (logged,
counted, backed off); its poll-log row is kept in memory and written as soon as the database answers again.
Back-off outlives the process: a new poller (restarted, or taking over from one that died) reads it back.

A poll never waits on the database unseen either. Its database steps (the poller lock, the rows kept, the store,
the source's state) run in threads of their own and share one deadline (FX_POLL_DEADLINE): a database that stalls
past it (frozen, a lock held, a disk that does not answer) makes the poll an `error` at the deadline, said then,
not when the database answers. The write under way is told to stop (it rolls back at its next checkpoint, at the
latest before it commits: app.storage.engine.write_session); if it had already sent its COMMIT, the commit may
still land later: then what it stored stands (its own poll-log row says what), the error row of the poll still
records that the poll overran, and a line says so (`_settled`).

What this process knows and the database may not hold yet (a failure it could not write, the back-off, the
scheduler's skipped runs) is what `view()` returns, for `/sources` and `/ready` to overlay.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import httpx
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine
from sqlmodel import col, select

from app.core import metrics
from app.core.abandon import in_daemon_thread, watched
from app.core.clock import utcnow
from app.core.settings import Settings
from app.domain.health import PollerView, latest
from app.domain.outcome import PollOutcome
from app.domain.quotes import Quote
from app.ingest import report
from app.ingest.pipeline import Outcome, process, store_quotes
from app.ingest.store import record_failure
from app.sources.base import SourceSpec, url_for
from app.sources.fetch import FetchError, Validators, fetch
from app.sources.registry import SOURCES
from app.storage import lock as leader
from app.storage.engine import describe, disk_full, make_engine, read_session, trouble, write_session
from app.storage.lock import LockUnavailable, PollerLock
from app.storage.models import SourceState

log = logging.getLogger(__name__)
T = TypeVar("T")

OnChange = Callable[[], Awaitable[None]]
# Poll-log rows kept while the database is away. A day's outage of every source at its default interval is
# about 400; past the bound the oldest are dropped and the next row written of that source says how many.
MAX_UNRECORDED = 1000


class PollDeadline(Exception):
    """The poll waited on the database longer than its deadline (FX_POLL_DEADLINE)."""

    def __init__(self, seconds: float, work: Future[Any] | None = None) -> None:
        super().__init__(f"the database did not answer within {seconds:g} s (the poll deadline)")
        self.work = work  # the database work given up on, still running in its thread (None: never started)


def longest_deadline(settings: Settings) -> float:
    return max((settings.poll_deadline_for(name) for name in settings.sources), default=3 * settings.db_timeout)


def poller_engine(settings: Settings) -> Engine:
    """The poller's own engine and pool: a poll never waits for a connection behind the API's readers. On
    PostgreSQL the server also ends, after the longest poll deadline, what a poll that gave up at its deadline
    left behind: its statement, or its session idle in a transaction (behind a frozen path the server never hears
    from that client again), so that the transaction's locks (the store's writer lock) do not hold up the polls
    after it, and it can no longer commit."""
    return make_engine(
        settings.database_url, connect_timeout=settings.db_timeout, statement_timeout=longest_deadline(settings)
    )


def database_trouble(exc: BaseException) -> str | None:
    """What is wrong when `exc` says the database is away (refused, dropped, not answering, locked, full), in
    one line fit for a log or a user (no password: drivers do not echo it); None for any other error (a bug is
    not an outage)."""
    found = describe(exc) if isinstance(exc, LockUnavailable | PollDeadline) else trouble(exc)
    return found[:300] if found is not None else None


def failed_because(exc: BaseException, trouble: str) -> str:
    """The error of a poll the database failed: it could not store (a full disk), or it is away."""
    return f"database cannot write: {trouble}" if disk_full(exc) else f"database unavailable: {trouble}"


@dataclass(slots=True)
class Budget:
    """What one poll may still spend waiting on the database: every database step takes from it."""

    source: str
    seconds: float  # the poll's deadline
    spent: float = 0.0
    began: float = field(default_factory=time.monotonic)  # when the poll began

    def left(self) -> float:
        return max(0.0, self.seconds - self.spent)


@dataclass(frozen=True, slots=True)
class Unrecorded:
    """The poll-log row of a failed poll that could not be written: the database was away."""

    source: str
    started_at: datetime
    finished_at: datetime
    error: str
    outcome: PollOutcome = PollOutcome.ERROR


@dataclass(slots=True)
class Runtime:
    """What the polling process remembers of one source between polls."""

    failures: int = 0
    backoff_until: datetime | None = None
    url: str | None = None
    validators: Validators = field(default_factory=Validators)
    quotes: Sequence[Quote] = ()
    # When this process last changed `failures` or `backoff_until`: newer state in the database (another
    # poller's) wins over it when this process takes the lock.
    changed_at: datetime | None = None
    # This process's latest polls, which the database may not hold yet (it could not take them): see view().
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    runs_skipped: int = 0
    last_run_skipped_at: datetime | None = None


def local_day(spec: SourceSpec, now: datetime) -> date:
    """Today where the publisher is: a bank in UTC+5 has moved to tomorrow at 19:00 UTC."""
    return (now + timedelta(hours=spec.utc_offset_hours)).date()


def backoff(interval: int, failures: int, retry_after: float | None, cap: int) -> timedelta:
    """No extra wait after one failure (the next regular poll retries), then 1, 3, 7... intervals, capped;
    a Retry-After from the upstream is honoured when it asks for longer."""
    seconds = min(interval * (2 ** min(failures - 1, 30) - 1), cap)
    # An upstream may ask for anything; a day (or the cap, if longer) is as long as we wait.
    asked = min(retry_after or 0, max(cap, 86400))
    return timedelta(seconds=max(seconds, asked))


class Poller:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        client: httpx.AsyncClient,
        lock: PollerLock,
        on_change: OnChange | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.client = client
        self.lock = lock
        self.on_change = on_change
        self.clock = clock
        self.runtime = {name: Runtime() for name in settings.sources}
        self.scheduler: AsyncIOScheduler | None = None
        self.inflight: set[asyncio.Task[Any]] = set()  # polls running now, for a graceful shutdown (drain)
        self.unrecorded: deque[Unrecorded] = deque()  # failed polls whose rows wait for the database
        self._dropped: Counter[str] = Counter()  # per source: rows dropped past MAX_UNRECORDED
        self._flushing: asyncio.Task[None] | None = None  # the rows kept, being written
        self.abandoned: set[Future[Any]] = set()  # writes given up at a poll's deadline, not finished yet
        self._none_abandoned = asyncio.Event()
        self._none_abandoned.set()
        self._background: set[asyncio.Future[Any]] = set()  # work a poll stopped waiting for (a snapshot reload)
        self._leading: bool | None = None  # as last found; None before the first poll
        self._term = 0  # the lock's `taken` when the state was last read back from the database
        self._reading = asyncio.Lock()
        self._stopping = False

    async def poll_source(self, name: str, *, force: bool = False) -> Outcome | None:
        """One poll of one source; None when another process holds the poller lock or the source is backing off."""
        task = asyncio.current_task()
        if task is not None:
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)
        state = self.runtime[name]
        started_at = self.clock()
        clock = time.perf_counter()
        budget = Budget(name, self.settings.poll_deadline_for(name))
        try:
            if not await self._lead(budget):
                return None
            if not force and self._backing_off(name, state, started_at):
                return None
            await self._write_unrecorded(budget)
        except Exception as exc:
            # Whether this process leads cannot be told, or the rows kept could not be written: the database is
            # away. A poll that would not have run anyway (a follower's, a source backing off) is no failure.
            if self._leading is False or (not force and self._backing_off(name, state, started_at)):
                return None
            outcome, retry_after = await self._failed(name, started_at, exc, budget), None
        else:
            outcome, retry_after = await self._poll_safely(SOURCES[name], state, started_at, budget)
        seconds = time.perf_counter() - clock
        self._account(name, state, outcome, retry_after, started_at)
        report.log_poll(log, outcome, seconds)
        await self._settle(name, state, outcome, budget)
        # The whole run, the state and the snapshot reload after the store included: a database that stalls there
        # holds the job as long, and costs scheduled runs as surely, as one that stalls the store.
        report.time_poll(name, time.perf_counter() - clock)
        return outcome

    async def _db(self, budget: Budget, job: Callable[[], T], *, cap: float | None = None) -> T:
        """`job()`, database work, in a thread of its own, waited for as long as the poll's deadline leaves (or
        `cap`, if sooner: TimeoutError). Past the deadline the work is told to stop (app.core.abandon) and
        PollDeadline raised with its future: a thread stuck on a database that does not answer runs on until it
        does, and a daemon thread never keeps the process from stopping."""
        left = budget.left()
        if left <= 0:
            raise PollDeadline(budget.seconds)
        wait = left if cap is None else min(cap, left)
        given_up = threading.Event()
        work = in_daemon_thread(watched(given_up, job), f"fx-poll-{budget.source}")
        waiter = asyncio.wrap_future(work)
        began = time.monotonic()
        try:
            done, _ = await asyncio.wait({waiter}, timeout=wait)
        finally:
            budget.spent += time.monotonic() - began
            if not waiter.done():  # timed out, or the poll was cancelled (shutdown): the work stops at a checkpoint
                waiter.cancel()
                given_up.set()
        if not done:
            if cap is not None and cap < left:
                raise TimeoutError
            raise PollDeadline(budget.seconds, work)
        return waiter.result()

    async def _within(self, budget: Budget, task: asyncio.Future[T]) -> T:
        """`task`'s result, waited for as long as the poll's deadline leaves; PollDeadline past it (the task
        goes on, kept referenced until it is done)."""
        self._background.add(task)
        task.add_done_callback(_retrieved)  # nobody may wait for it to the end
        task.add_done_callback(self._background.discard)
        began = time.monotonic()
        done, _ = await asyncio.wait({task}, timeout=budget.left())
        budget.spent += time.monotonic() - began
        if not done:
            raise PollDeadline(budget.seconds)
        return task.result()

    async def _lead(self, budget: Budget) -> bool:
        """True when this process holds the poller lock; a new term as the poller first reads back the state
        the previous one left. A change of leader is logged (once, not at every poll it skips)."""
        try:
            # A database that stopped answering (not refusing) holds the thread asking: this poll gives up on it.
            leading = await self._db(budget, self.lock.acquire, cap=leader.ASK_TIMEOUT)
        except TimeoutError:
            raise LockUnavailable(f"no answer within {leader.ASK_TIMEOUT:g} s about the poller lock") from None
        if leading != self._leading:
            if leading:
                log.info("took the poller lock: this process polls now")
            else:
                log.info("another process holds the poller lock: this one stands by and polls only if it takes over")
            self._leading = leading
        if leading and self._term != self.lock.taken:
            async with self._reading:  # the polls of every source arrive here together
                if self._term != self.lock.taken:
                    taken = self.lock.taken
                    self._adopt(await self._db(budget, self._read_state))
                    self._term = taken
        return leading

    def _backing_off(self, name: str, state: Runtime, now: datetime) -> bool:
        if state.backoff_until is not None and now < state.backoff_until:
            log.debug("poll of %s skipped: backing off until %s", name, state.backoff_until)
            return True
        return False

    def _read_state(self) -> list[SourceState]:
        with read_session(self.engine) as session:
            statement = select(SourceState).where(col(SourceState.source).in_(list(self.runtime)))
            return list(session.exec(statement))

    def _adopt(self, rows: Iterable[SourceState]) -> None:
        """Failures and back-off as the database has them, where they are newer than this process's own: a
        restarted or replacement poller honours an upstream's Retry-After as the previous one would have."""
        now = self.clock()
        for row in rows:
            state = self.runtime[row.source]
            if state.changed_at is not None and state.changed_at >= row.updated_at:
                continue
            state.failures = row.consecutive_failures
            backoff_until = row.backoff_until
            state.backoff_until = backoff_until if backoff_until is not None and backoff_until > now else None
            state.changed_at = row.updated_at
            if state.backoff_until is not None:
                log.info(
                    "%s backs off until %s after %d failed poll(s), as its saved state says",
                    row.source, state.backoff_until.isoformat(), state.failures,
                )  # fmt: skip

    async def _poll_safely(
        self, spec: SourceSpec, state: Runtime, started_at: datetime, budget: Budget
    ) -> tuple[Outcome, float | None]:
        """The poll, with any unforeseen failure (a parser bug, the database away) turned into an error
        outcome: one source's trouble must never stop the scheduler, the other sources or `poll --once`."""
        try:
            return await self._poll(spec, state, started_at, budget)
        except Exception as exc:
            return await self._failed(spec.name, started_at, exc, budget), None

    async def _failed(self, name: str, started_at: datetime, exc: Exception, budget: Budget) -> Outcome:
        """The outcome of a poll that raised `exc`: the database away or full (kept to be written later, one log
        line), or a bug (its traceback logged, and its row written if the database takes it)."""
        trouble = database_trouble(exc)
        if trouble is not None:
            return self._keep(Unrecorded(name, started_at, utcnow(), failed_because(exc, trouble)))
        log.exception("poll of %s failed unexpectedly", name)
        return await self._failure(name, started_at, f"internal error: {type(exc).__name__}: {exc}"[:500], budget)

    async def _failure(
        self,
        name: str,
        started_at: datetime,
        error: str,
        budget: Budget,
        outcome: PollOutcome = PollOutcome.ERROR,
    ) -> Outcome:
        """A poll that stored nothing: its row is written now, or kept until the database answers again."""
        try:
            await self._db(
                budget,
                lambda: record_failure(self.engine, name, started_at=started_at, error=error, outcome=outcome),
            )
        except PollDeadline as exc:
            row = Unrecorded(name, started_at, utcnow(), error, outcome)
            self._follow(exc, row, budget)
            return self._keep(row)
        except Exception as exc:
            if database_trouble(exc) is None:  # nowhere to record it, ever: this log line has it
                log.exception("could not record the failed poll of %s", name)
                return Outcome(name, ok=outcome is not PollOutcome.ERROR, error=error)
            return self._keep(Unrecorded(name, started_at, utcnow(), error, outcome))
        return Outcome(name, ok=outcome is not PollOutcome.ERROR, error=error)

    def _keep(self, row: Unrecorded) -> Outcome:
        self.unrecorded.append(row)
        self._bound()
        self._count_unrecorded()
        return Outcome(row.source, ok=row.outcome is not PollOutcome.ERROR, error=row.error, recorded=False)

    def _bound(self) -> None:
        while len(self.unrecorded) > MAX_UNRECORDED:
            self._dropped[self.unrecorded.popleft().source] += 1

    def _count_unrecorded(self) -> None:
        waiting = Counter(row.source for row in self.unrecorded)
        for name in self.runtime:
            metrics.UNRECORDED.labels(name).set(waiting[name])

    async def _store(self, budget: Budget, name: str, started_at: datetime, job: Callable[[], Outcome]) -> Outcome:
        """The poll's write. Past the deadline the poll is an error at once, its row kept until the database
        answers; what the write given up on did is followed (`_settled`)."""
        try:
            return await self._db(budget, job)
        except PollDeadline as exc:
            row = Unrecorded(name, started_at, utcnow(), f"database unavailable: {exc}")
            self._follow(exc, row, budget)
            return self._keep(row)

    def _follow(self, deadline: PollDeadline, row: Unrecorded, budget: Budget) -> None:
        """Once the write given up on at `row`'s deadline is done, say what it did (`_settled`)."""
        work = deadline.work
        if work is None:
            return
        loop = asyncio.get_running_loop()
        self.abandoned.add(work)
        self._none_abandoned.clear()
        work.add_done_callback(lambda _: _call_soon(loop, lambda: self._settled(work, row, budget.began)))

    def _settled(self, work: Future[Any], row: Unrecorded, began: float) -> None:
        """A write given up on at its poll's deadline has finished. Rolled back (told to stop, or the server
        ended its session): nothing of it was stored, the poll's error row stands alone. Committed (its COMMIT was
        sent before the deadline, its answer came late): the data stands, as its own poll-log row says; the error
        row (if still kept) says the write committed after all, and the poll is counted with its outcome too, as
        the poll log has both rows. A failure record that committed late is the kept row itself: that is dropped."""
        self.abandoned.discard(work)
        if not self.abandoned:
            self._none_abandoned.set()
        if work.cancelled():  # given up on before its thread even began: nothing was done
            return
        seconds = time.monotonic() - began
        exc = work.exception()
        if exc is not None:
            why = database_trouble(exc) or f"{type(exc).__name__}: {exc}"
            log.info(
                "the write of the %s poll given up at its deadline did not commit (%s): nothing of it was stored",
                row.source, why,
            )  # fmt: skip
            return
        outcome = work.result()
        if not isinstance(outcome, Outcome) or outcome.result is None:
            self._replace(row, None)
            log.info("the failure record of the %s poll given up at its deadline committed after %.1f s", row.source,
                     seconds)  # fmt: skip
            return
        note = f"; its write committed later nonetheless, after {seconds:.1f} s: the poll's own row says what it stored"
        self._replace(row, dataclasses.replace(row, error=row.error + note))
        report.count_poll(outcome)
        state = self.runtime[row.source]
        if outcome.status.succeeded:
            state.last_success_at = latest(state.last_success_at, row.started_at)
        log.warning(
            "poll of %s overran its deadline, but its write committed after %.1f s: what it stored stands (%s)",
            row.source, seconds, outcome.summary(),
        )  # fmt: skip

    def _replace(self, row: Unrecorded, by: Unrecorded | None) -> None:
        """Replace (or drop) a kept row, if it is still kept (not being written, nor dropped past the bound)."""
        for index, kept in enumerate(self.unrecorded):
            if kept is row:
                if by is None:
                    del self.unrecorded[index]
                else:
                    self.unrecorded[index] = by
                self._count_unrecorded()
                return

    async def wait_abandoned(self) -> None:
        """Until every write given up at a deadline has finished, and been told apart (`_settled`)."""
        await self._none_abandoned.wait()

    async def _write_unrecorded(self, budget: Budget) -> None:
        """Write the rows kept while the database was away, oldest first; raise (keeping the rest) if it still
        cannot take them. One writing at a time, row by row in one thread, so a row is never lost nor written
        twice; a poll waits for it as long as its deadline leaves, and the writing goes on past that."""
        if self._flushing is None:
            if not self.unrecorded:
                return
            self._flushing = asyncio.create_task(self._flush())
        await self._within(budget, self._flushing)

    async def _flush(self) -> None:
        try:  # rows and counts are touched here, in the event loop, never in the thread
            batch = list(self.unrecorded)
            self.unrecorded.clear()
            rows = self._noted(batch)
            written, error = await asyncio.wrap_future(in_daemon_thread(lambda: self._write_rows(rows), "fx-poll-log"))
            for row in batch[:written]:
                self._dropped.pop(row.source, None)
            self.unrecorded.extendleft(reversed(batch[written:]))
            self._bound()
            self._count_unrecorded()
            if written:
                log.info("wrote %d poll-log row(s) kept while the database was away", written)
            if error is not None:
                raise error
        finally:
            self._flushing = None

    def _noted(self, batch: Sequence[Unrecorded]) -> list[Unrecorded]:
        """The first row of a source whose older rows were dropped (past MAX_UNRECORDED) says how many."""
        noted, seen = [], set()
        for row in batch:
            if self._dropped[row.source] and row.source not in seen:
                extra = f" (and {self._dropped[row.source]} earlier failed poll(s), too many to keep)"
                row = dataclasses.replace(row, error=row.error + extra)
            seen.add(row.source)
            noted.append(row)
        return noted

    def _write_rows(self, rows: Sequence[Unrecorded]) -> tuple[int, Exception | None]:
        for written, row in enumerate(rows):
            try:
                record_failure(
                    self.engine, row.source,
                    started_at=row.started_at, finished_at=row.finished_at, error=row.error, outcome=row.outcome,
                )  # fmt: skip
            except Exception as exc:
                if database_trouble(exc) is not None:
                    return written, exc
                # A row the database refuses for good (a bug, not an outage): said once, not retried for ever.
                log.exception("could not record the failed poll of %s: dropped", row.source)
        return len(rows), None

    async def _poll(
        self, spec: SourceSpec, state: Runtime, started_at: datetime, budget: Budget
    ) -> tuple[Outcome, float | None]:
        day = local_day(spec, started_at) if spec.dated else None
        if not spec.fetches:
            return await self._process(spec, b"", started_at, day, budget), None
        url = url_for(self.settings.source_url(spec.name), day)
        # Ask "has it changed?" only when we still hold what the previous answer said.
        validators = state.validators if state.url == url and state.quotes else None
        try:
            fetched = await fetch(self.client, url, self.settings.max_body_bytes, validators)
        except FetchError as exc:
            if exc.status == 404 and day is not None:
                # A dated feed has no file for a day it did not publish (CBT on Sundays): nothing to store.
                error = f"no rates published for {day} (HTTP 404 from {url})"
                return await self._failure(spec.name, started_at, error, budget, PollOutcome.REJECTED), None
            return await self._failure(spec.name, started_at, str(exc), budget), exc.retry_after
        if fetched.body is None:
            outcome = await self._confirm(spec, state, started_at, budget)
        else:
            outcome = await self._process(spec, fetched.body, started_at, day, budget)
        if outcome.quotes:
            state.url, state.validators, state.quotes = url, fetched.validators, outcome.quotes
        return outcome, None

    async def _process(
        self, spec: SourceSpec, body: bytes, started_at: datetime, day: date | None, budget: Budget
    ) -> Outcome:
        observed_at = self.clock()
        return await self._store(budget, spec.name, started_at, lambda: process(
            self.engine, self.settings, spec, body,
            observed_at=observed_at, started_at=started_at, expected_day=day, not_after=local_day(spec, started_at),
        ))  # fmt: skip

    async def _confirm(self, spec: SourceSpec, state: Runtime, started_at: datetime, budget: Budget) -> Outcome:
        """A 304: the upstream still says what it said, so the same quotes are seen again, without parsing."""
        now = self.clock()
        quotes = [dataclasses.replace(q, observed_at=now) for q in state.quotes]
        return await self._store(budget, spec.name, started_at, lambda: store_quotes(
            self.engine, self.settings, spec.name, quotes,
            started_at=started_at, entries_seen=len(quotes), unchanged=True,
        ))  # fmt: skip

    def _account(self, name: str, state: Runtime, outcome: Outcome, retry_after: float | None, now: datetime) -> None:
        state.changed_at = state.last_attempt_at = now
        if outcome.status.succeeded:
            state.last_success_at = now
        else:
            state.last_error, state.last_error_at = outcome.error, now
        if outcome.ok:
            state.failures, state.backoff_until = 0, None
            return
        state.failures += 1
        wait = backoff(self.settings.source_interval(name), state.failures, retry_after, self.settings.max_backoff)
        state.backoff_until = now + wait if wait else None

    async def _settle(self, name: str, state: Runtime, outcome: Outcome, budget: Budget) -> None:
        """After the poll: the metrics, the source's state, and the snapshot, within what is left of the poll's
        deadline. With the database away, only the metrics: the state is written by the next poll that reaches it."""
        report.count_poll(outcome)
        if not outcome.recorded:
            return
        try:
            await self._db(budget, lambda: self._save_state(name, state))
        except Exception as exc:  # the database went away after the poll: the next poll will say so
            self._warn(f"could not record the state of {name}", exc)
        try:
            await self._db(budget, lambda: report.count_spans(self.engine, name))
        except PollDeadline as exc:
            self._warn(f"could not count the stored spans of {name} for the metrics", exc)
        if self.on_change is not None:
            try:
                await self._within(budget, asyncio.ensure_future(self.on_change()))
            except Exception as exc:
                self._warn("could not reload the latest rates", exc)

    @staticmethod
    def _warn(what: str, exc: Exception) -> None:
        report.warn(log, what, exc, database_trouble(exc))

    def next_poll_at(self, name: str, state: Runtime) -> datetime | None:
        job = self.scheduler.get_job(f"poll-{name}") if self.scheduler is not None else None
        scheduled: datetime | None = job.next_run_time if job is not None else None
        if state.backoff_until is not None and (scheduled is None or scheduled < state.backoff_until):
            return state.backoff_until
        return scheduled

    def view(self) -> dict[str, PollerView] | None:
        """Each source as this process sees it now, for /sources and /ready to overlay on what the database
        holds; None unless this process is the poller (a follower's memory says nothing of the polls). Called
        in the event loop, where the state changes, so a view is never half of one poll and half of the next."""
        if not self._leading:
            return None
        waiting = Counter(row.source for row in self.unrecorded)
        return {
            name: PollerView(
                last_attempt_at=state.last_attempt_at,
                last_success_at=state.last_success_at,
                last_error=state.last_error,
                last_error_at=state.last_error_at,
                consecutive_failures=state.failures,
                backoff_until=state.backoff_until,
                next_poll_at=self.next_poll_at(name, state),
                unrecorded=waiting[name],
                runs_skipped=state.runs_skipped,
                last_run_skipped_at=state.last_run_skipped_at,
            )
            for name, state in self.runtime.items()
        }

    def _skipped(self, event: JobSubmissionEvent) -> None:
        """The scheduler did not start a poll because the previous one of that source still runs (a poll slower
        than its interval: a slow upstream, a database that stalls but answers within the deadline). APScheduler
        logs it too; here it is counted, and shown in /sources. Called in the event loop (AsyncIOScheduler)."""
        name = str(event.job_id).removeprefix("poll-")
        state = self.runtime.get(name)
        if state is None:
            return
        runs = len(event.scheduled_run_times)
        state.runs_skipped += runs
        state.last_run_skipped_at = max(event.scheduled_run_times)
        metrics.RUNS_SKIPPED.labels(name).inc(runs)

    def _save_state(self, name: str, state: Runtime) -> None:
        with write_session(self.engine) as session:
            row = session.get(SourceState, name) or SourceState(source=name, updated_at=self.clock())
            row.consecutive_failures = state.failures
            row.backoff_until = state.backoff_until
            row.next_poll_at = self.next_poll_at(name, state)
            row.updated_at = self.clock()
            session.add(row)

    async def drain(self, seconds: float) -> bool:
        """Wait, at most `seconds`, for the polls in flight to finish, then cancel the rest; True when all
        finished. Cancelling abandons a fetch; a database write already under way runs in a thread and
        cannot be interrupted, but it is one transaction: it commits whole or not at all. Rows kept while the
        database was away get a last chance to be written."""
        self._stopping = True
        running = [task for task in self.inflight if task is not asyncio.current_task()]
        pending: set[asyncio.Task[Any]] = set()
        if running:
            log.info("waiting up to %g s for %d poll(s) in flight", seconds, len(running))
            _, pending = await asyncio.wait(running, timeout=seconds)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        # Bounded: a database that does not answer must not keep the process from stopping.
        if (kept := len(self.unrecorded)) and not await self.write_unrecorded(5):
            log.warning("%d failed poll(s) may never reach the poll log: the database is away", kept)
        return not pending

    async def write_unrecorded(self, seconds: float | None = None) -> bool:
        """Write the rows kept while the database was away, now, waiting at most `seconds` (by default the
        longest poll deadline); False when it is still away (they stay kept)."""
        wait = seconds if seconds is not None else longest_deadline(self.settings)
        try:
            await self._write_unrecorded(Budget("kept", wait))
        except Exception as exc:
            if database_trouble(exc) is None:
                raise
            return False
        return True

    async def poll_all(self, names: Iterable[str] | None = None) -> list[Outcome | None]:
        """One poll of each source, one after another (they share one database writer anyway)."""
        return [await self.poll_source(name, force=True) for name in (names or self.settings.sources)]

    async def _scheduled_poll(self, name: str) -> None:
        """What the scheduler runs. A poll cancelled because the process is stopping (it outlived the shutdown
        timeout) is said in one line: it is no error, and a traceback would bury the rest of the log."""
        try:
            await self.poll_source(name)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            log.warning("poll of %s abandoned at shutdown: still running when the shutdown timeout ran out", name)

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        self.scheduler = scheduler
        scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES)
        for name in self.settings.sources:
            interval = self.settings.source_interval(name)
            scheduler.add_job(
                self._scheduled_poll,
                "interval",
                args=[name],
                id=f"poll-{name}",
                seconds=interval,
                jitter=min(self.settings.poll_jitter, interval // 2),
                # Interval triggers first fire one interval after start: poll at start-up instead.
                next_run_time=utcnow() + timedelta(seconds=1),
                max_instances=1,
                coalesce=True,
                # The default grace of 1 s silently drops a run that starts late (a busy loop, a slow poll).
                misfire_grace_time=max(30, interval // 2),
            )


def _retrieved(task: asyncio.Future[Any]) -> None:
    """Mark the outcome of a task nobody may wait for as seen (asyncio warns about an unseen exception)."""
    if not task.cancelled():
        task.exception()


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: the process has stopped
        loop.call_soon_threadsafe(callback)
