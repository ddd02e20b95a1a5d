"""SIGTERM during a poll: the process waits for the poll (or cancels it whole), then exits 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from app.storage.models import PollLog, RateSpan
from tests.support import SEED_PAGE, Upstream


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_password(database_url: str) -> str:
    """PostgreSQL here trusts local connections, so a password in the URL is accepted and must never be logged."""
    url = make_url(database_url)
    return (
        url.set(password="db-pw-never-logged").render_as_string(hide_password=False) if url.username else database_url
    )


def _stop_mid_poll(database_url: str, delay: float, **env_extra: str) -> tuple[int, float, list[dict[str, Any]]]:
    """Serve as the poller, SIGTERM while the start-up poll waits for a slow upstream; (exit code, seconds, log)."""
    with Upstream() as upstream:
        upstream.delay = delay
        url = upstream.serve("/", SEED_PAGE.read_bytes())
        env = {k: v for k, v in os.environ.items() if not k.startswith("FX_")}
        env.update(
            FX_DATABASE_URL=_with_password(database_url),
            FX_ROLE="poller",
            FX_SOURCES="ticker",
            FX_SOURCE_TICKER_URL=url,
            FX_SOURCE_TICKER_INTERVAL="3600",
            FX_POLL_JITTER="0",
            FX_LOG_FORMAT="json",
            FX_METRICS_PORT="0",  # one metrics port for every test server would be shared
            **env_extra,
        )
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(_free_port())]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while not upstream.requests:  # the poll has begun: its fetch is waiting for the upstream
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "no poll started"
                time.sleep(0.05)
            time.sleep(0.2)
            stopped = time.monotonic()
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
            seconds = time.monotonic() - stopped
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert "db-pw-never-logged" not in stderr
    return process.returncode, seconds, [json.loads(line) for line in stderr.splitlines()]


def _stored(engine: Engine) -> tuple[list[PollLog], list[RateSpan]]:
    with Session(engine) as session:
        return list(session.exec(select(PollLog))), list(session.exec(select(RateSpan)))


@pytest.mark.slow
def test_sigterm_waits_for_the_poll_in_flight(engine: Engine, database_url: str) -> None:
    code, seconds, log = _stop_mid_poll(database_url, delay=2.0)
    assert code == 0
    assert seconds >= 1.0  # it waited for the upstream's answer rather than cutting the poll
    messages = [line["message"] for line in log]
    assert "waiting up to 25 s for 1 poll(s) in flight" in messages
    assert messages.index("waiting up to 25 s for 1 poll(s) in flight") < messages.index("poll ticker ok")
    polls, spans = _stored(engine)
    assert [p.outcome for p in polls] == ["ok"]  # the whole snapshot: five currencies, one observation each
    assert sorted(s.currency for s in spans) == ["KGS", "KZT", "TJS", "TMT", "UZS"]
    assert all(s.observations == 1 for s in spans)


@pytest.mark.slow
def test_sigterm_past_the_shutdown_timeout_cancels_the_poll_whole(engine: Engine, database_url: str) -> None:
    code, seconds, log = _stop_mid_poll(database_url, delay=5.0, FX_SHUTDOWN_TIMEOUT="0.5")
    assert code == 0
    assert seconds < 4.5  # it did not wait for the upstream
    assert not any(line["message"].startswith("poll ticker") for line in log)
    assert _stored(engine) == ([], [])  # nothing half-written: no poll row, no span
    # Said in one plain line: abandoning a poll at shutdown is what the timeout is for, not an error.
    assert [(line["level"], line["message"]) for line in log if "ticker" in line["message"]] == [
        ("warning", "poll of ticker abandoned at shutdown: still running when the shutdown timeout ran out")
    ]
    assert not [line for line in log if line["level"] in ("error", "critical") or "Traceback" in line["message"]]
