"""Real `fx-ticker` processes for the tests that need one: a free port, a server started and stopped, a wait."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], object], timeout: float = 20.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def clean_environment(**overrides: str) -> dict[str, str]:
    """This process's environment without any FX_ variable, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FX_")}
    # /metrics on the served port, as the tests read it: a port of its own (the default 9464) would be one port
    # for every server the tests start at once. tests/test_public_defaults.py serves it the default way.
    env["FX_METRICS_PORT"] = "0"
    env.update(overrides)
    return env


class Server:
    """`fx-ticker serve` in a process of its own, on a free port, its output in a log file.

    Use as a context manager: it is stopped (SIGTERM, then SIGKILL) on the way out whatever happened.
    `port` restarts a server where a stopped one was, for clients that reconnect to the same address.
    """

    def __init__(
        self, env: Mapping[str, str], log: Path, *, args: tuple[str, ...] = (), port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port), *args]
        with open(log, "ab") as sink:
            self.process = subprocess.Popen(command, env=clean_environment(**env), stdout=sink, stderr=sink)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def get(self, path: str, timeout: float = 10.0, **headers: str) -> httpx.Response:
        return httpx.get(self.base_url + path, headers=headers, timeout=timeout)

    def wait_healthy(self, timeout: float = 30.0) -> Server:
        def healthy() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"fx-ticker serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                return self.get("/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, timeout, "the server to answer /health")
        return self

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
