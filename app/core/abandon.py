"""Work nobody waits for any more stops at its next checkpoint, rather than run to the end for nobody.

A request that runs out of FX_DB_TIMEOUT is answered 503, and the client of a CSV download may hang up; either
way the thread doing its work cannot be interrupted from outside. Without a way to stop, that thread goes on
reading and computing, keeping its turn (app.api.dbaccess) and a core, while the requests after it are turned
away for want of both.

So the API gives each job an event and sets it when it stops waiting (`watched`). The readers call
`checkpoint()` before and between pages of rows and between the stages of an answer, and an SQLite statement
checks the same event while it runs (app.storage.engine), so the work stops within a page or a few milliseconds
of SQL. The poller does the same with each of a poll's database steps when the poll's deadline passes, and a
write transaction checks once more before it commits (app.storage.engine.write_session), so work given up on
does not commit behind the back of the one that gave up. Elsewhere (the CLI) no event is set and a checkpoint
costs one lookup.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")

_EVENT: ContextVar[threading.Event | None] = ContextVar("fx_abandoned", default=None)


class Abandoned(Exception):
    """The work was given up by the one it was for: not an error to report, only to stop on."""


def abandoned() -> bool:
    """Whether the work running in this thread has been given up."""
    event = _EVENT.get()
    return event is not None and event.is_set()


def checkpoint() -> None:
    """Stop here (raise Abandoned) if the work running in this thread has been given up."""
    if abandoned():
        raise Abandoned("given up by the request it was for")


@contextmanager
def watching(event: threading.Event) -> Iterator[None]:
    """Within the block, checkpoints in this thread stop once `event` is set."""
    token = _EVENT.set(event)
    try:
        yield
    finally:
        _EVENT.reset(token)


def watched(event: threading.Event, job: Callable[[], T]) -> Callable[[], T]:
    """`job`, to be run in another thread, stopping at its checkpoints once `event` is set."""

    def run() -> T:
        with watching(event):
            return job()

    return run


def in_daemon_thread(job: Callable[[], T], name: str) -> Future[T]:
    """`job()` in a thread of its own, its result (or exception) in the future returned.

    A daemon thread, not one of a pool: one stuck on a database that does not answer neither takes a worker other
    work waits for nor keeps a stopping process alive (a pool's threads are joined at exit). It runs in a copy of
    the caller's context, as asyncio.to_thread does."""
    future: Future[T] = Future()
    context = contextvars.copy_context()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = context.run(job)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future
