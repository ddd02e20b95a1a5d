"""At most one process polls a database: whoever holds the poller lock.

Every process started with role `all` or `poller` runs a scheduler (each uvicorn worker runs the lifespan),
so each poll first asks for the lock; the holder keeps it for its lifetime and the others skip their turn.
When the holder dies its lock is freed by the OS or the server, and the next process to ask takes over.

Within a process, the polls of several sources ask at the same moment (every job first runs at start-up), each
from a worker thread: asking is therefore serialized by a thread lock, or all but one would see the lock taken
(by their own process) and skip their turn.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from app.storage.engine import is_sqlite, lock_key

log = logging.getLogger(__name__)

# How long a poll waits to learn whether this process holds the lock (the poller gives up after as long, too).
# Asking takes milliseconds; a database that stopped answering (frozen, not refusing) would hold it for ever.
ASK_TIMEOUT = 30.0
RELEASE_TIMEOUT = 5.0


class LockUnavailable(Exception):
    """Whether this process holds the lock cannot be told now: the database does not answer."""


class PollerLock(Protocol):
    # How many times this process has taken the lock: a new value means a new term as the poller, whose
    # predecessor (another process, or this one before it lost the lock) may have left state behind.
    taken: int

    def acquire(self) -> bool:
        """True when this process holds the lock (it may already have held it)."""
        ...

    def release(self) -> None: ...


class _Serialized:
    """One thread at a time asks for (or gives up) the lock; subclasses say how (`_acquire`, `_release`)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self.taken = 0

    def _acquire(self) -> bool:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    def acquire(self) -> bool:
        if not self._mutex.acquire(timeout=ASK_TIMEOUT):
            raise LockUnavailable(f"no answer within {ASK_TIMEOUT:g} s about the poller lock")
        try:
            return self._acquire()
        finally:
            self._mutex.release()

    def release(self) -> None:
        if not self._mutex.acquire(timeout=RELEASE_TIMEOUT):
            # A thread is stuck asking a database that does not answer: the process's exit frees the lock.
            log.warning("the poller lock is left for this process's exit to free: the database does not answer")
            return
        try:
            self._release()
        finally:
            self._mutex.release()


class FileLock(_Serialized):
    """SQLite: an exclusive flock on a file beside the database; the kernel frees it when the process dies.

    flock belongs to an open file: a second open of the same file in this process would be refused like another
    process would, which is why asking goes through one thread at a time.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._file: IO[bytes] | None = None

    def _acquire(self) -> bool:
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+b")  # noqa: SIM115 - held open for as long as we lead
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n".encode())
        handle.flush()
        self._file = handle
        self.taken += 1
        return True

    def _release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


_TRY = text("SELECT pg_try_advisory_lock(:key), pg_backend_pid()")
# The session `pid` if it holds the advisory lock `key` (a bigint key is split into classid and objid), ended.
_END_HOLDER = text(
    "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = :pid AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = :key"
)


class AdvisoryLock(_Serialized):
    """PostgreSQL: a session advisory lock held on one dedicated connection, never a pooled one.

    A pooled connection could go back to the pool (and the lock with it) or be recycled under us. Nothing
    here touches the database before the first `acquire`, so a process starts while the database is away.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        # A database that accepts connections but never answers must not hold a poll for ever.
        self._engine = create_engine(engine.url, poolclass=NullPool, connect_args={"connect_timeout": 10})
        self._key: int | None = None
        self._conn: Connection | None = None
        self._pid: int | None = None  # the server session holding the lock for us
        self._lost_pid: int | None = None  # that session, after its connection was lost

    def _still_held(self) -> bool:
        assert self._conn is not None
        try:
            self._conn.execute(text("SELECT 1"))
            return True
        except DBAPIError:
            log.warning("lost the database connection that held the poller lock")
            self._lost_pid = self._pid
            self._drop()
            return False

    def _acquire(self) -> bool:
        if self._conn is not None and self._still_held():
            return True
        if self._key is None:
            self._key = lock_key(self._engine, "poller")
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            taken, pid = conn.execute(_TRY, {"key": self._key}).one()
            if not taken and self._lost_pid is not None:
                taken = self._end_lost_session(conn)
        except BaseException:
            with contextlib.suppress(DBAPIError):
                conn.close()
            raise
        if taken:
            self._conn, self._pid, self._lost_pid = conn, pid, None
            self.taken += 1
            return True
        conn.close()
        return False

    def _end_lost_session(self, conn: Connection) -> bool:
        """Our session from before the connection was lost may hold the lock still: its server has not noticed
        that the client is gone (behind a network cut, that takes TCP keepalive's hours). End it, take over."""
        pid = self._lost_pid
        ended = conn.execute(_END_HOLDER, {"pid": pid, "key": self._key}).scalar()
        self._lost_pid = None  # held by another process, or ended now: either way, asked once
        if not ended:
            return False
        log.warning("ended this process's lost database session (pid %s), which still held the poller lock", pid)
        return bool(conn.execute(_TRY, {"key": self._key}).one()[0])

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(DBAPIError):
                self._conn.close()
            self._conn = None

    def _release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(DBAPIError):
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
        self._drop()
        self._engine.dispose()


def poller_lock(engine: Engine) -> PollerLock:
    if is_sqlite(engine):
        database = engine.url.database or ""
        if database in ("", ":memory:"):
            raise ValueError("the poller needs a file (or PostgreSQL) database, not an in-memory one")
        return FileLock(Path(database).with_name(Path(database).name + ".poller.lock"))
    return AdvisoryLock(engine)
