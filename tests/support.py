"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine

from app.api.problems import PROBLEM_JSON, TYPE_BASE
from app.core.settings import Settings
from app.ingest import pairs, rollup
from app.sources.registry import load_settings

FIXTURES = Path(__file__).parent / "fixtures"
SEED_PAGE = FIXTURES / "ticker-page-2026-02-23.txt"


def at(text: str) -> datetime:
    """A UTC instant from `2026-02-23T10:00`."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    return load_settings(database_url=database_url, **overrides)


class Upstream:
    """A local HTTP server standing in for the upstream feeds: path -> (status, body, headers), changeable live."""

    def __init__(self) -> None:
        import threading
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.routes: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        self.changing: dict[str, Callable[[int], bytes]] = {}  # path -> the body of its n-th request (from 0)
        self.requests: list[str] = []
        self.not_modified = 0
        self.delay = 0.0  # seconds each answer waits: an upstream that answers slowly
        # Called with the path of each request as it arrives (before it is answered): a fault timed to a poll.
        self.on_request: Callable[[str], None] | None = None
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                asked_before = upstream.requests.count(self.path)
                upstream.requests.append(self.path)
                if upstream.on_request is not None:
                    upstream.on_request(self.path)
                time.sleep(upstream.delay)
                status, body, headers = upstream.routes.get(self.path, (404, b"not found", {}))
                if self.path in upstream.changing:
                    status, body, headers = 200, upstream.changing[self.path](asked_before), {}
                if status == 200 and headers.get("ETag") and self.headers.get("If-None-Match") == headers["ETag"]:
                    upstream.not_modified += 1
                    status, body = 304, b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def serve(self, path: str, body: bytes, status: int = 200, **headers: str) -> str:
        self.routes[path] = (status, body, headers)
        return self.url(path)

    def serve_changing(self, path: str, body: Callable[[int], bytes]) -> str:
        """Answer the n-th request of `path` (from 0) with `body(n)`: an upstream whose data moves on."""
        self.changing[path] = body
        return self.url(path)

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def __enter__(self) -> Upstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def assert_rollups_current(engine: Engine) -> None:
    """Every rollup (hours and days, of each series and of the pairs) is what a rebuild from the spans gives."""
    with engine.connect() as conn:
        assert rollup.stored(conn) == rollup.computed(conn)
        assert rollup.stored_days(conn) == rollup.computed_days(conn)
        crosses = pairs.computed(conn)
        assert pairs.stored(conn) == crosses
        assert pairs.stored_days(conn) == list(rollup.days_of_hours(crosses, pairs.KIND))


class Answered(Protocol):
    """An HTTP answer as httpx and Starlette's test client give it."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Any: ...

    def json(self) -> Any: ...


def problem(response: Answered, kind: str | None = None) -> dict[str, Any]:
    """The problem document (RFC 9457) of an error answer, checked: its content type, its members, `status` equal
    to the answer's, and `type` the one of `kind` (app.api.problems) when given."""
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers["content-type"]
    document: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= document.keys(), document
    assert document["status"] == response.status_code, document
    assert isinstance(document["title"], str) and document["title"] and document["detail"], document
    if kind is not None:
        assert document["type"] == TYPE_BASE + kind, document
    return document


def detail_of(response: Answered, kind: str | None = None) -> str:
    """The `detail` of an error answer, once problem() has checked it is a problem document."""
    detail: str = problem(response, kind)["detail"]
    return detail
