"""How the API uses the database: in worker threads of its own, a bounded number at once, under a deadline, and
database trouble answered as a 503 problem document with Retry-After and one log line.

- **A deadline on our side** (FX_DB_TIMEOUT). A frozen database (a paused server, a path that drops packets)
  neither answers nor refuses, so no driver or server timeout bounds a query already sent: only the client can
  stop waiting. The thread is then told to stop (app.core.abandon): a thread still computing, or running an
  SQLite statement, stops at its next checkpoint and gives its turn back. One stuck on a frozen database
  finishes when the freeze ends, and keeps its turn until then, so no more threads than turns are ever stuck
  and requests never exhaust the pool.
- **Admission** (FX_DB_CONCURRENCY turns, FX_DB_QUEUE_TIMEOUT). A burst of heavy queries queued without bound
  answers everyone late (it used to be 30 s, then a pool timeout and a 500). A request that gets no turn in time
  is answered 503 at once, so the admitted ones finish in time and the others know when to come back.
- **Daemon threads**: a thread stuck on a frozen database must not keep the process from exiting on SIGTERM.

Routes call `Database.read` (or are wrapped by `in_database`); the CSV stream calls `Database.run` per page.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import math
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from functools import partial
from typing import Any, TypeVar, get_type_hints

from fastapi import FastAPI, Request, Response
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session

from app.api import problems
from app.api.httpmetrics import ARRIVED
from app.core import metrics
from app.core.abandon import watched
from app.core.settings import Settings
from app.storage.engine import describe, read_session, unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_RETRY_AFTER = 1  # seconds: a turn frees up as soon as one of the requests ahead is answered
LOG_EVERY = 1.0  # seconds: failures within one of the previous line are counted, not logged one by one


class DatabaseUnavailable(Exception):
    """The database could not serve this request in time: a 503 for the client, a line in the log."""

    def __init__(self, reason: str, detail: str, cause: str, retry_after: int) -> None:
        super().__init__(cause)
        self.reason = reason  # timeout | error | busy (the label of fx_db_unavailable_total)
        self.detail = detail  # for the client: what happened and what to do, no internals
        self.cause = cause  # for the operator: the driver's own words
        self.retry_after = retry_after


_Jobs = queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None]  # one thread's jobs; None: stop


class _Workers:
    """Daemon threads, at most `count`, started when needed. Not the standard ThreadPoolExecutor: its threads are
    joined at exit, so one stuck on a frozen database would keep a stopped process alive. The thread that was idle
    last takes the next job, so the pages of a download are formatted by one thread, in one malloc arena (spread
    over all the threads, the same download grew the process by twice as much)."""

    def __init__(self, count: int) -> None:
        self._count = count
        self._idle: list[_Jobs] = []
        self._all: list[_Jobs] = []
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], T]) -> Future[T]:
        """`job` on an idle thread. The caller holds one of `count` turns, so one is idle or may be started."""
        future: Future[T] = Future()
        with self._lock:
            if self._idle:
                jobs = self._idle.pop()
            else:
                jobs = queue.SimpleQueue()
                self._all.append(jobs)
                name = f"fx-db-{len(self._all)}"
                threading.Thread(target=self._work, args=(jobs,), name=name, daemon=True).start()
        jobs.put((future, job))
        return future

    def _work(self, jobs: _Jobs) -> None:
        while (item := jobs.get()) is not None:
            self._run(jobs, *item)
            # An idle thread must hold nothing of its last job: its locals would keep the job (a download's whole
            # export) and its result (a page) alive until the next job came, for as long as the thread idles.
            del item

    def _run(self, jobs: _Jobs, future: Future[Any], job: Callable[[], Any]) -> None:
        if not future.set_running_or_notify_cancel():
            self._rest(jobs)
            return
        try:
            result = job()
        except BaseException as exc:
            self._rest(jobs)  # idle before the turn is given back (the future's callback): never > count
            future.set_exception(exc)
        else:
            self._rest(jobs)
            future.set_result(result)

    def _rest(self, jobs: _Jobs) -> None:
        with self._lock:
            self._idle.append(jobs)

    def close(self) -> None:
        with self._lock:
            for jobs in self._all:
                jobs.put(None)


class _Throttle:
    """At most one line per LOG_EVERY seconds: the first failure is logged at once, the ones within the next
    second are counted, and the last of them is logged when the second is over, with the count."""

    def __init__(self) -> None:
        self._last = -math.inf
        self._skipped = 0
        self._pending = ""

    def line(self, message: str) -> None:
        """Log `message` now, or count it and log the last one later (on the event loop: no lock needed)."""
        now = time.monotonic()
        if now - self._last >= LOG_EVERY:
            self._last = now
            log.warning("%s", message)
            return
        if not self._skipped:
            asyncio.get_running_loop().call_later(self._last + LOG_EVERY - now, self._flush)
        self._skipped += 1
        self._pending = message

    def _flush(self) -> None:
        skipped, self._skipped, self._last = self._skipped, 0, time.monotonic()
        log.warning("%s (the latest of %d failures in the last second)", self._pending, skipped)


class Database:
    """The API's readers: an engine of their own, FX_DB_CONCURRENCY turns, and the FX_DB_TIMEOUT deadline."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.timeout = settings.db_timeout
        self.queue_timeout = settings.db_queue_timeout
        self.concurrency = settings.db_concurrency
        self.retry_after = max(1, math.ceil(settings.db_timeout))
        self._turns = asyncio.Semaphore(settings.db_concurrency)
        self._overdue = 0  # turns held by threads whose request gave up waiting (a frozen database)
        self._workers = _Workers(settings.db_concurrency)
        self.throttle = _Throttle()

    async def run(self, job: Callable[[], T], *, queue_timeout: float | None = None, arrived: float | None = None) -> T:
        """`job()` in a worker thread, once a turn is free (waiting at most `queue_timeout`, by default
        FX_DB_QUEUE_TIMEOUT, from `arrived` (time.perf_counter) when given), answered within FX_DB_TIMEOUT;
        DatabaseUnavailable otherwise."""
        patience = self.queue_timeout if queue_timeout is None else queue_timeout
        if arrived is not None:  # the time a busy server took to get the request this far counts too
            patience -= time.perf_counter() - arrived
        await self._admit(patience)
        loop = asyncio.get_running_loop()
        overdue = False

        def finished() -> None:  # on the loop, once the thread is done: only then is the turn given back
            nonlocal overdue
            if overdue:
                self._overdue -= 1
            self._turns.release()

        given_up = threading.Event()
        try:
            # The request's context goes with it (how it asked for its numbers to be written: app.api.numbers).
            context = contextvars.copy_context()
            # `watched` sets its own context variable (app.core.abandon): inside the copy, where the job reads it.
            future = self._workers.submit(partial(context.run, watched(given_up, job)))
        except BaseException:
            self._turns.release()
            raise
        future.add_done_callback(lambda _: _call_soon(loop, finished))
        waiter = asyncio.wrap_future(future)
        try:
            done, _ = await asyncio.wait({waiter}, timeout=self.timeout)
        finally:
            if not waiter.done():
                waiter.cancel()  # no answer wanted any more (timed out, or a download's client left): drop it
                given_up.set()  # and the work stops at its next checkpoint, its turn given back sooner
        if not done:
            overdue = True
            self._overdue += 1
            raise self._timeout(f"no answer within {self.timeout:g} s")
        try:
            return waiter.result()
        except Exception as exc:
            if unavailable(exc):
                raise self.failure(exc) from None
            raise

    async def read(self, job: Callable[[Session], T], arrived: float | None = None) -> T:
        """`job(session)` as `run` does, on a session opened and closed (its connection given back) in the thread."""

        def in_session() -> T:
            with read_session(self.engine) as session:
                return job(session)

        return await self.run(in_session, arrived=arrived)

    async def _admit(self, patience: float) -> None:
        if not self._turns.locked():
            await self._turns.acquire()  # free: taken without waiting
            return
        try:
            await asyncio.wait_for(self._turns.acquire(), max(patience, 0))
        except TimeoutError:
            if self._overdue:  # the turns are held by threads still waiting for a database that does not answer
                raise self._timeout(
                    f"no turn free within {patience:g} s: {self._overdue} of {self.concurrency} are held by queries "
                    f"unanswered for over {self.timeout:g} s"
                ) from None
            raise DatabaseUnavailable(
                "busy",
                "the server is busy: too many requests are using the database; try again in a second",
                f"all {self.concurrency} turns taken for {patience:g} s",
                BUSY_RETRY_AFTER,
            ) from None

    def _timeout(self, cause: str) -> DatabaseUnavailable:
        detail = "the database did not answer in time; try again in a few seconds"
        return DatabaseUnavailable("timeout", detail, cause, self.retry_after)

    def failure(self, exc: BaseException) -> DatabaseUnavailable:
        return DatabaseUnavailable(
            "error", "the database is unavailable; try again in a few seconds", describe(exc), self.retry_after
        )

    def close(self) -> None:
        self._workers.close()


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: the process is stopping
        loop.call_soon_threadsafe(callback)


def database(request: Request) -> Database:
    found: Database = request.app.state.database
    return found


def in_database(endpoint: Callable[..., Response]) -> Callable[..., Awaitable[Response]]:
    """A route whose work is a sync function `endpoint(request, session, ...)`, run by `Database.read`.

    The route keeps the endpoint's parameters (FastAPI reads them from its signature) but for `session`, which
    is opened in the worker thread and closed there before the answer is sent.
    """
    hints = get_type_hints(endpoint, include_extras=True)
    signature = inspect.signature(endpoint)
    parameters = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in signature.parameters.values()
        if p.name != "session"
    ]

    async def route(**values: Any) -> Response:
        request: Request = values["request"]
        arrived = request.scope.get(ARRIVED)
        return await database(request).read(lambda session: endpoint(session=session, **values), arrived)

    for name in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(route, name, getattr(endpoint, name))
    route.__signature__ = signature.replace(parameters=parameters, return_annotation=Response)  # type: ignore[attr-defined]
    return route


def log_unavailable(request: Request, exc: DatabaseUnavailable, what: str = "answered 503") -> None:
    """One line, no traceback; at most two a second (see _Throttle)."""
    metrics.DB_UNAVAILABLE.labels(exc.reason).inc()
    where = f"{request.method} {request.url.path}"
    database(request).throttle.line(f"database unavailable: {where} {what} ({exc.reason}): {exc.cause}")


async def _unavailable(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, DatabaseUnavailable):
        if not unavailable(exc):
            raise exc  # a bug, not an outage: the 500 and its traceback are what is wanted
        exc = database(request).failure(exc)
    log_unavailable(request, exc)
    kind = problems.SERVER_BUSY if exc.reason == "busy" else problems.DATABASE_UNAVAILABLE
    return problems.response(kind, exc.detail, headers={"Retry-After": str(exc.retry_after)})


def install(app: FastAPI) -> None:
    """503 for database trouble, whether it came through Database.run or straight from a query elsewhere."""
    for kind in (DatabaseUnavailable, DBAPIError, PoolTimeout):
        app.add_exception_handler(kind, _unavailable)
