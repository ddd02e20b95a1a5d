"""The fault injectors themselves: a proxy that forwards, freezes, refuses and comes back."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from tests.conftest import POSTGRES_URL
from tests.faults import TcpProxy
from tests.processes import wait_for


def _select_one(url: str, **connect_args: object) -> int:
    engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT 1")).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.slow
def test_the_proxy_forwards_freezes_refuses_and_recovers() -> None:
    with TcpProxy.in_front_of(POSTGRES_URL) as proxy:
        url = proxy.url_for(POSTGRES_URL)
        assert _select_one(url) == 1

        proxy.freeze()
        with pytest.raises(OperationalError, match="timeout"):
            _select_one(url, connect_timeout=2)
        answered: list[int] = []
        waiting = threading.Thread(target=lambda: answered.append(_select_one(url, connect_timeout=10)))
        waiting.start()
        waiting.join(1)
        assert waiting.is_alive() and not answered  # held, not refused
        proxy.thaw()
        waiting.join(10)
        assert answered == [1]

        proxy.refuse()
        with pytest.raises(OperationalError, match="refused"):
            _select_one(url, connect_timeout=2)
        proxy.accept()
        assert _select_one(url) == 1


def _fails_within(seconds: float, query: Callable[[], object]) -> BaseException | None:
    """What `query` raised, None if it answered; AssertionError if it was still waiting after `seconds`."""
    raised: list[BaseException | None] = []

    def run() -> None:
        try:
            query()
            raised.append(None)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert raised, f"still waiting after {seconds:g} s: the connection was left open and silent"
    return raised[0]


def _alive(pid: int) -> bool:
    engine = create_engine(POSTGRES_URL, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            found = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid})
            return bool(found.scalar_one())
    finally:
        engine.dispose()


def _backend(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


@pytest.mark.slow
def test_cut_ends_open_connections_on_both_sides_and_sever_on_the_clients_only() -> None:
    with TcpProxy.in_front_of(POSTGRES_URL) as proxy:
        engine = create_engine(proxy.url_for(POSTGRES_URL), poolclass=NullPool)
        with engine.connect() as conn:
            pid = _backend(conn)
            proxy.cut()
            assert isinstance(_fails_within(5, lambda: conn.execute(text("SELECT 1"))), OperationalError)
        wait_for(lambda: not _alive(pid), 5, "the server to end the session")

        with engine.connect() as conn:
            pid = _backend(conn)
            proxy.sever()
            assert isinstance(_fails_within(5, lambda: conn.execute(text("SELECT 1"))), OperationalError)
        assert _alive(pid)  # the server was told nothing: its session lives on
        engine.dispose()
    wait_for(lambda: not _alive(pid), 5, "the proxy's close to end it")
