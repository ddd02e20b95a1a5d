"""Faults made for real: a TCP proxy in front of a server (PostgreSQL, an upstream) that can freeze or refuse.

Point the code under test at `proxy.url_for(real_url)` (or host/port) and then:

- `freeze()`: connections stay open and new ones are accepted, but not a byte is forwarded either way, as when
  the server process is paused (SIGSTOP) or a network path silently drops packets; `thaw()` resumes.
- `freeze_after(marker)`: forward the next client bytes holding `marker` (`b"COMMIT"`), then freeze: the server
  did what it was asked, and its answer is lost in the frozen path, as when it is paused just after committing.
- `refuse()`: the port stops listening (connection refused) and every open connection is reset, as when the
  server is stopped; `accept()` listens again.
- `cut()`: every open connection is reset, the port keeps listening (a restarted server, a failover).
- `sever()`: every open connection is reset on the client's side only; the server is told nothing and keeps
  its sessions (and their locks), as when a NAT or firewall between them dropped the connections: a server
  learns of that only from TCP keepalive, by default hours later.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType

from sqlalchemy.engine import make_url

_CHUNK = 65536


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self._flowing = threading.Event()
        self._flowing.set()
        self._freeze_after: bytes | None = None
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._servers: set[socket.socket] = set()  # the server's side of each connection in _sockets
        self._orphans: list[socket.socket] = []  # server sides left open by sever(), closed by close()
        self._listener: socket.socket | None = None
        self.port = self._listen(0)

    # --- the proxy ------------------------------------------------------------------------------------------

    def _listen(self, port: int) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()
        return int(listener.getsockname()[1])

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed: refuse() or close()
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._flowing.wait()  # a frozen server accepts (its kernel does) but never answers
        try:
            server = socket.create_connection(self.target, timeout=10)
        except OSError:
            _reset(client)
            return
        server.settimeout(None)
        with self._lock:
            if self._listener is None:  # refused while this connection was being made: it never was
                _reset(client)
                _reset(server)
                return
            self._sockets.update((client, server))
            self._servers.add(server)
        for source, sink, upstream in ((client, server, True), (server, client, False)):
            threading.Thread(target=self._pump, args=(source, sink, upstream), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        try:
            while data := source.recv(_CHUNK):
                self._flowing.wait()
                sink.sendall(data)
                marker = self._freeze_after
                if upstream and marker is not None and marker in data:
                    self._freeze_after = None
                    self.freeze()
        except OSError:
            pass
        finally:
            self._forget(source, sink)

    def _forget(self, *sockets: socket.socket) -> None:
        with self._lock:
            for sock in sockets:
                if sock in self._sockets:
                    self._sockets.discard(sock)
                    self._servers.discard(sock)
                    _reset(sock)

    # --- the faults -----------------------------------------------------------------------------------------

    def freeze(self) -> None:
        self._flowing.clear()

    def freeze_after(self, marker: bytes) -> None:
        self._freeze_after = marker

    def thaw(self) -> None:
        self._flowing.set()

    def cut(self) -> None:
        with self._lock:
            sockets, self._sockets, self._servers = self._sockets, set(), set()
        for sock in sockets:
            _reset(sock)

    def sever(self) -> None:
        with self._lock:
            sockets, servers, self._sockets, self._servers = self._sockets, self._servers, set(), set()
            self._orphans.extend(servers)
        for sock in sockets - servers:
            _reset(sock)

    def refuse(self) -> None:
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave the port listening.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        self.cut()

    def accept(self) -> None:
        if self._listener is None:
            self._listen(self.port)

    def close(self) -> None:
        self.thaw()
        self.refuse()
        for sock in self._orphans:
            _reset(sock)

    # --- where to point the code under test ------------------------------------------------------------------

    def url_for(self, database_url: str) -> str:
        """`database_url` with its host and port replaced by the proxy's."""
        url = make_url(database_url).set(host=self.host, port=self.port)
        return url.render_as_string(hide_password=False)

    @classmethod
    def in_front_of(cls, database_url: str) -> TcpProxy:
        url = make_url(database_url)
        return cls(url.host or "127.0.0.1", url.port or 5432)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a dead peer's kernel would answer.

    shutdown() first: a pump thread is blocked in recv() on every open socket, and close() alone does not wake
    it, so the kernel would keep the connection open and silently swallow whatever the client sends next."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
