"""A process that cannot start its poller stops what it had started: the error goes out, nothing stays open."""

from __future__ import annotations

import socket

import pytest
from fastapi.testclient import TestClient

from app.api import metricsport
from app.api.app import create_app
from tests.support import make_settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_poller_that_cannot_start_leaves_no_port_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """An in-memory database cannot hold the poller lock: start-up fails, and the metrics port it had opened is
    closed again (it stayed bound before, with the stream hub and the snapshot watcher still running)."""
    monkeypatch.setenv(metricsport.SERVED_ENV, "1")  # as `fx-ticker serve` sets it: the port opens with the app
    port = _free_port()
    settings = make_settings("sqlite://", role="all", metrics_port=port, metrics_host="127.0.0.1")
    with pytest.raises(ValueError, match="the poller needs a file"), TestClient(create_app(settings)):
        pass
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))  # free again
