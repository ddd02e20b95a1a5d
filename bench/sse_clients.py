"""Many `/rates/stream` subscribers in one process, for the fan-out step (bench/fanout.py).

`python -m bench.sse_clients PORT N` opens N connections to 127.0.0.1:PORT, a batch at a time (the server's listen
backlog is finite), each a plain asyncio stream that reads event blocks and notes when each `rates` event arrived
(time.monotonic(): one clock for every process of the machine). It writes to stdout:

    ready N SECONDS           once every connection has had its first event (and how long connecting took)
    got ID FIRST LAST COUNT   once every connection has received the event ID: when the first and the last did
    error MESSAGE             and exits, when a connection fails

and closes every connection when its stdin closes. A connection costs a socket, a transport and a coroutine.
"""

from __future__ import annotations

import asyncio
import sys
import time

from bench.harness import more_files

BATCH = 250
EVENT = b"\nevent: rates\n"


class Subscribers:
    def __init__(self, port: int, count: int) -> None:
        self.port, self.count = port, count
        self.ready = False
        self.arrivals: dict[bytes, list[float]] = {}  # id: [count, first, last]
        self.writers: list[asyncio.StreamWriter] = []

    def arrived(self, ident: bytes, at: float) -> None:
        if not self.ready:
            return
        seen = self.arrivals.setdefault(ident, [0, at, at])
        seen[0] += 1
        seen[2] = at
        if seen[0] == self.count:
            print(f"got {ident.decode()} {seen[1]:.6f} {seen[2]:.6f} {seen[0]}", flush=True)
            del self.arrivals[ident]

    async def subscribe(self, connected: asyncio.Future[None]) -> None:
        try:
            await self._read(connected)
        except Exception as exc:
            if not connected.done():
                connected.set_exception(exc)
            raise

    async def _read(self, connected: asyncio.Future[None]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)
        self.writers.append(writer)
        writer.write(b"GET /rates/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"the stream answered {head[:60]!r}")
        while True:
            # One block per event (the chunked framing of the body shows as a line of hex before it: skipped).
            block = await reader.readuntil(b"\n\n")
            at = time.monotonic()
            start = block.find(b"id: ")
            if start < 0 or EVENT not in block:
                continue  # `retry:`, or a heartbeat comment
            if not connected.done():
                connected.set_result(None)
            self.arrived(block[start + 4 : block.index(b"\n", start)], at)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[None]] = []
        began = time.monotonic()
        try:
            for first in range(0, self.count, BATCH):
                batch = [loop.create_future() for _ in range(first, min(first + BATCH, self.count))]
                tasks += [asyncio.create_task(self.subscribe(future)) for future in batch]
                await asyncio.wait_for(asyncio.gather(*batch), timeout=120)
        except Exception as exc:
            print(f"error after {len(tasks)} connections: {exc!r}", flush=True)
        else:
            self.ready = True
            print(f"ready {self.count} {time.monotonic() - began:.1f}", flush=True)
            await asyncio.to_thread(sys.stdin.read)  # until the benchmark closes our stdin
        for writer in self.writers:
            writer.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    port, count = int(sys.argv[1]), int(sys.argv[2])
    more_files(count + 100)
    try:
        import uvloop
    except ImportError:  # plain asyncio: slower, the same figures
        asyncio.run(Subscribers(port, count).run())
    else:
        uvloop.run(Subscribers(port, count).run())


if __name__ == "__main__":
    main()
