"""The fault injectors themselves: a proxy that forwards, freezes, refuses and comes back."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from tests.conftest import POSTGRES_URL
from tests.faults import TcpProxy


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
