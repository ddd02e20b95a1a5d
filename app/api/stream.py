"""Server-Sent Events for `/rates/stream`: the /rates/latest body, pushed to every subscriber when it changes.

Fan-out costs one render per change and per distinct query, whatever the number of subscribers: when the process
publishes a new snapshot (app.read.latest), the hub renders the body of each query that has subscribers (the
snapshot caches it, as for /rates/latest), frames it as one event once, and hands those same bytes to every
subscriber of that query. Nothing here reads the database.

Each subscriber has a mailbox of one event: a client too slow to take an event before the next one comes skips to
the newest (memory stays bounded, and the others never wait for it); a client that goes away is dropped as soon
as its connection says so. The hub closes every stream when the process is asked to stop, so that shutdown is
not held up by connections that would otherwise never end.

The responses are written in pure ASGI rather than with a streaming-response library: a subscriber is one
coroutine waiting on a future, with no task group, queue or generator of its own, so that what this module adds
is a few kilobytes a subscriber. A query the route has validated opens its later streams in a pure ASGI fast path
(app.api.fastpath), around the framework's routing and middleware, whose per-request state would otherwise live as
long as the stream: the server's whole cost is then about 16 kB a subscriber at 5,000 (see bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.api.security import HEADERS as SECURITY
from app.core.jsonenc import DECIMALS_AS_TEXT
from app.core.metrics import STREAMS
from app.read.latest import LatestService, Rendered

# How long the browser waits before reconnecting after the stream drops (the `retry:` field), milliseconds.
RETRY_MS = 3000
HEARTBEAT = b": keep-alive\n\n"
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once instead of buffering the response
    *SECURITY,  # sent here, since the stream's fast path (app.api.fastpath) goes around the middleware
]
# Query strings the route has validated, and what they ask for: the fast path answers them again. Bounded, as
# query strings are the client's to vary; validation depends on the settings alone, so an entry never goes stale.
MAX_KNOWN_QUERIES = 1024

# (currencies, source, decimals as strings?), as /rates/latest renders them (app.api.numbers)
Key = tuple[tuple[str, ...], str | None, bool]


def event_id(rendered: Rendered) -> str:
    """The data version, then a short hash of the body: a body can change without a write (a rate turning
    stale), and a reconnecting client must then still get it."""
    return f"{rendered.version}.{rendered.etag.strip(chr(34))[:10]}"


def frame(rendered: Rendered) -> tuple[str, bytes]:
    """(id, the `rates` event) for a rendered body; JSON has no raw newline, so the body is one `data:` line."""
    ident = event_id(rendered)
    return ident, b"id: %s\nevent: rates\ndata: %s\n\n" % (ident.encode(), rendered.body)


@dataclass(eq=False, slots=True)
class Subscriber:
    key: Key
    sent: str | None = None  # id of the last event written to the client
    pending: tuple[str, bytes] | None = None  # the newest event not yet written: one at most
    wake: asyncio.Future[None] | None = None

    def deliver(self, event: tuple[str, bytes]) -> None:
        if event[0] == self.sent:
            return
        self.pending = event
        if self.wake is not None and not self.wake.done():
            self.wake.set_result(None)

    def take(self) -> bytes | None:
        event, self.pending = self.pending, None
        if event is None or event[0] == self.sent:
            return None
        self.sent = event[0]
        return event[1]


@dataclass(slots=True)
class StreamHub:
    service: LatestService
    heartbeat: float
    closing: bool = False
    _by_key: dict[Key, set[Subscriber]] = field(default_factory=dict)
    _known: dict[bytes, Key] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None

    def remember(self, query_string: bytes, key: Key) -> None:
        """The route validated `query_string` into `key`: the fast path may answer it from now on."""
        if len(self._known) < MAX_KNOWN_QUERIES:
            self._known[query_string] = key

    def known(self, query_string: bytes) -> Key | None:
        return self._known.get(query_string)

    def start(self) -> None:
        """Listen for new snapshots (published from worker threads) and for the signal to stop."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.service.on_publish(lambda: loop.call_soon_threadsafe(self.publish))
        _before_exit(lambda: loop.call_soon_threadsafe(self.close))

    @property
    def subscribers(self) -> int:
        return sum(len(group) for group in self._by_key.values())

    def current(self, key: Key) -> tuple[str, bytes]:
        currencies, source, as_text = key
        token = DECIMALS_AS_TEXT.set(as_text)  # a publish runs outside any request: the key says how to write
        try:
            return frame(self.service.render(currencies, source))
        finally:
            DECIMALS_AS_TEXT.reset(token)

    def subscribe(self, key: Key) -> Subscriber:
        subscriber = Subscriber(key)
        self._by_key.setdefault(key, set()).add(subscriber)
        STREAMS.inc()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        group = self._by_key.get(subscriber.key)
        if group is not None and subscriber in group:
            group.discard(subscriber)
            STREAMS.dec()
            if not group:
                del self._by_key[subscriber.key]

    def publish(self) -> None:
        """A snapshot was published: one render and one framing per query, the same bytes to each subscriber."""
        for key, group in list(self._by_key.items()):
            event = self.current(key)
            for subscriber in group:
                subscriber.deliver(event)

    def close(self) -> None:
        self.closing = True
        for group in self._by_key.values():
            for subscriber in group:
                if subscriber.wake is not None and not subscriber.wake.done():
                    subscriber.wake.set_result(None)


class EventStream(Response):
    """The response of one subscriber: the current body at once (unless the client already has it), then every
    change, with a heartbeat comment whenever nothing was sent for `hub.heartbeat` seconds."""

    media_type = "text/event-stream"

    def __init__(self, hub: StreamHub, key: Key, last_event_id: str | None) -> None:
        super().__init__()
        self.hub = hub
        self.key = key
        self.last_event_id = last_event_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub = self.hub
        subscriber = hub.subscribe(self.key)
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            subscriber.sent = self.last_event_id
            subscriber.deliver(hub.current(self.key))
            opening = b"retry: %d\n\n" % RETRY_MS + (subscriber.take() or b"")
            await send({"type": "http.response.body", "body": opening, "more_body": True})
            del opening  # this frame lives as long as the stream: it keeps no copy of the first body
            while not hub.closing:
                wake = subscriber.wake = asyncio.get_running_loop().create_future()
                if subscriber.pending is not None:
                    wake.set_result(None)
                done, _ = await asyncio.wait((wake, gone), timeout=hub.heartbeat, return_when=asyncio.FIRST_COMPLETED)
                if gone in done:
                    return
                if hub.closing:
                    break
                body = subscriber.take() if done else HEARTBEAT
                if body:
                    await send({"type": "http.response.body", "body": body, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            hub.unsubscribe(subscriber)
            gone.cancel()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _before_exit(callback: Callable[[], object]) -> None:
    """Run `callback` when the process is asked to stop (SIGTERM, SIGINT), before the server's own handler.

    The server waits for every response to finish before it shuts the application down, and a stream never
    finishes by itself: the hub must hear of the signal first. Only the main thread can set signal handlers;
    elsewhere (an in-process test client) the application's shutdown closes the hub instead.
    """
    for number in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(number)

        def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
            callback()
            if callable(previous):
                previous(signum, frame)
            else:  # the default action (or none): put it back and let the signal have it
                signal.signal(signum, previous)
                signal.raise_signal(signum)

        with contextlib.suppress(ValueError):
            signal.signal(number, handler)
