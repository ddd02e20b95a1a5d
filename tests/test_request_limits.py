"""A request's head is bounded (app.api.limits): over 32 KiB or 100 header fields it is refused with a JSON 431
(414 for the URL alone) and the connection closed, before anything is handed to the app; a head within the
limits is served as usual. Sent over raw sockets to a real `fx-ticker serve`, as a client that means harm would."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.api.limits import MAX_FIELDS, MAX_HEAD_BYTES
from app.storage.engine import make_engine
from app.storage.migrate import upgrade
from tests.processes import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root: Path = tmp_path_factory.mktemp("limits")
    database_url = f"sqlite:///{root / 'fx.db'}"
    upgrade(make_engine(database_url))
    with Server({"FX_DATABASE_URL": database_url, "FX_ROLE": "api"}, root / "serve.log") as server:
        yield server.wait_healthy()


def _ask(server: Server, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `head` (and the blank line that ends it), read until the server closes; the status, fields, body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        # The server may refuse and close before the whole head is sent: its answer is still there to read.
        with contextlib.suppress(OSError):
            sock.sendall(head + b"\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    top, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = top.decode().split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in lines)
    return int(status_line.split()[1]), fields, body


def _request(path: str = "/health", *fields: bytes) -> bytes:
    return b"".join([f"GET {path} HTTP/1.1\r\nHost: fx\r\nConnection: close\r\n".encode(), *fields])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("head", "status", "detail"),
    [
        (_request("/health", b"X-Big: " + b"a" * 1_000_000 + b"\r\n"), 431, "larger than 32 KiB in all"),
        (_request("/health", *(b"X-%d: 1\r\n" % i for i in range(10_000))), 431, "more than 100 header fields"),
        (_request("/health", *(b"X-%d: 1\r\n" % i for i in range(MAX_FIELDS))), 431, "more than 100 header fields"),
        (_request("/health", *(b"X-%d: %s\r\n" % (i, b"a" * 1000) for i in range(40))), 431, "larger than 32 KiB"),
        (_request("/health?q=" + "a" * MAX_HEAD_BYTES), 414, "URL is longer than 32 KiB"),
    ],
    ids=["one-1MB-field", "10000-fields", "101-fields", "40-fields-of-1KB", "a-32KiB-URL"],
)
def test_a_head_over_the_limits_is_refused_and_the_connection_closed(
    server: Server, head: bytes, status: int, detail: str
) -> None:
    answer, fields, body = _ask(server, head)
    assert answer == status
    assert fields["content-type"] == "application/problem+json" and fields["connection"] == "close"
    assert fields["x-content-type-options"] == "nosniff"
    document = json.loads(body)
    assert detail in document["detail"] and document["status"] == status
    kind = "uri-too-long" if status == 414 else "header-fields-too-large"
    assert document["type"] == f"https://fx-ticker.dev/problems/{kind}" and document["title"]
    assert server.get("/health").status_code == 200  # and the server serves on


@pytest.mark.slow
def test_a_head_within_the_limits_is_served(server: Server) -> None:
    # Host and Connection are two fields: 98 more of 300 bytes each is about 30 KiB, 100 fields in all.
    fields = [b"X-%d: %s\r\n" % (i, b"a" * 300) for i in range(MAX_FIELDS - 2)]
    status, _, body = _ask(server, _request("/health", *fields))
    assert (status, json.loads(body)) == (200, {"status": "ok"})
