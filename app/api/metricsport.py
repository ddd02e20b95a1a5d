"""`/metrics` on a port of its own (FX_METRICS_HOST:FX_METRICS_PORT), off the public one.

A public read API has no reason to show the world its request counts, its database trouble and its sources'
failures; Prometheus scrapes this port instead, on the host or on a private network. `fx-ticker serve` starts it
in each worker process, the sockets bound with SO_REUSEPORT: the kernel hands each scrape to one of the workers,
which answers what /metrics on the API port did (every worker's counters added up, app.core.metrics, and its
own snapshot's gauges). An app built without `fx-ticker serve` (the tests' TestClient) starts none.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from app.core import metrics

log = logging.getLogger(__name__)

# Set by `fx-ticker serve` for its workers: only a served process opens the metrics port.
SERVED_ENV = "FX_TICKER_SERVED"
PATH = "/metrics"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        if self.path.split("?", 1)[0] != PATH:
            self._send(404, b"not found: this port answers GET /metrics only\n", "text/plain; charset=utf-8", body)
            return
        self._send(200, metrics.render(), metrics.CONTENT_TYPE, body)

    def _send(self, status: int, content: bytes, content_type: str, body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(content)

    def log_message(self, format: str, *args: object) -> None:
        return  # scrapes are counted by Prometheus itself; a line each would drown the log


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        if hasattr(socket, "SO_REUSEPORT"):  # every worker listens on the same port
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


class MetricsPort:
    """The metrics listener of one process; `close` stops it."""

    def __init__(self, host: str, port: int) -> None:
        self._server = _Server((host, port), _Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fx-metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start(host: str, port: int) -> MetricsPort | None:
    """The metrics port of a process `fx-ticker serve` started, when FX_METRICS_PORT asks for one; else None."""
    if port == 0 or os.environ.get(SERVED_ENV) != "1":
        return None
    try:
        listener = MetricsPort(host, port)
    except OSError as exc:  # the port is taken by another program: serve the API all the same, and say so
        log.error("could not serve /metrics on %s:%d: %s", host, port, exc)
        return None
    log.info("serving /metrics on http://%s:%d%s", host, listener.port, PATH)
    return listener
