"""At most one process polls a database, even when several are started with role `all`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.storage.engine import make_engine
from app.storage.lock import poller_lock
from app.storage.models import PollLog
from tests.conftest import _postgres_schema_url
from tests.faults import TcpProxy
from tests.support import SEED_PAGE, Upstream


def test_a_second_lock_is_refused_until_the_first_is_released(engine: Engine) -> None:
    first, second = poller_lock(engine), poller_lock(engine)
    assert first.acquire()
    assert first.acquire()  # holding it already
    assert not second.acquire()
    first.release()
    assert second.acquire()
    assert not first.acquire()
    second.release()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_schema_url()


def test_a_lock_lost_with_its_connection_is_taken_back_from_the_server(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The connection holding the lock is dropped between poller and server, and only the poller hears of it:
    the server keeps the session, and the lock with it, for hours. The poller ends that session of its own
    (and no other process's) and leads on."""
    with TcpProxy.in_front_of(postgres_url) as proxy:
        engines = [make_engine(proxy.url_for(postgres_url)), make_engine(postgres_url)]
        ours, theirs = (poller_lock(engine) for engine in engines)
        assert ours.acquire()
        proxy.sever()
        assert not theirs.acquire()  # the server still holds the lock for the lost session
        assert ours.acquire()  # which is ours: ended, and the lock taken again
        assert not theirs.acquire()
        ours.release()
        assert theirs.acquire()
        theirs.release()
        for engine in engines:
            engine.dispose()
    messages = [r.getMessage() for r in caplog.records if r.name == "app.storage.lock"]
    assert messages[0] == "lost the database connection that held the poller lock"
    assert messages[1].startswith("ended this process's lost database session (pid ")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _serve(database_url: str, upstream_url: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FX_")}
    env.update(
        FX_DATABASE_URL=database_url,
        FX_ROLE="all",
        FX_SOURCES="ticker",
        FX_SOURCE_TICKER_URL=upstream_url,
        FX_SOURCE_TICKER_INTERVAL="1",
        FX_SOURCE_TICKER_MAX_GAP="30",
        FX_POLL_JITTER="0",
        FX_LOG_LEVEL="warning",
        FX_METRICS_PORT="0",  # one metrics port for every test server would be shared
    )
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(_free_port())]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=15)
        assert process.stderr is not None
        process.stderr.close()


def _pollers(engine: Engine) -> list[tuple[str, object]]:
    with Session(engine) as session:
        rows = session.exec(select(PollLog).order_by(col(PollLog.started_at)))
        return [(row.poller, row.started_at) for row in rows]


def _wait_for(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


@pytest.mark.slow
def test_two_serving_processes_never_both_poll(engine: Engine, database_url: str) -> None:
    with Upstream() as upstream:
        url = upstream.serve("/", SEED_PAGE.read_bytes())
        with _serve(database_url, url) as first, _serve(database_url, url) as second:
            _wait_for(lambda: len(_pollers(engine)) >= 4)
            time.sleep(2)  # both schedulers have fired several times by now
            holders = {poller for poller, _ in _pollers(engine)}
            assert len(holders) == 1, holders
            (leader_id,) = holders
            leader_pid = int(leader_id.rsplit(":", 1)[1])
            assert leader_pid in (first.pid, second.pid)
            # The leader dies without cleaning up: the other one takes over on its next turn.
            os.kill(leader_pid, signal.SIGKILL)
            follower_pid = second.pid if leader_pid == first.pid else first.pid
            _wait_for(lambda: any(p.endswith(f":{follower_pid}") for p, _ in _pollers(engine)))
    rows = _pollers(engine)
    handover = next(i for i, (p, _) in enumerate(rows) if p.endswith(f":{follower_pid}"))
    assert all(p == leader_id for p, _ in rows[:handover])
    assert all(p.endswith(f":{follower_pid}") for p, _ in rows[handover:])
