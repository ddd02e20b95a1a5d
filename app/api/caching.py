"""HTTP caching for the read endpoints: ETag, Cache-Control, 304 on If-None-Match, and rendered bodies.

A JSON answer's ETag is a hash of its body. A streamed answer cannot be hashed before it is produced, so it
gets a weak ETag from the data version (bumped by every write) and the normalized query instead.

Query answers are pure functions of the stored data and the normalized query, so their bodies are kept per
(data version, query) in a small in-process LRU: a dashboard asking again for a year of days gets the bytes
rendered the first time until the next write.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from fastapi import Request, Response

from app.api.etags import etag_matches
from app.core.jsonenc import numbers_key
from app.core.metrics import QUERY_CACHE
from app.read.latest import LatestService, etag_of

CACHED_BODIES = 256
CACHED_BYTES = 32_000_000  # all bodies together, per application
CACHED_BODY_MAX_BYTES = 2_000_000  # larger bodies are rendered each time rather than crowd out the rest


def cache_headers(request: Request, etag: str) -> dict[str, str]:
    """Clients may cache until the next poll is expected, and no longer."""
    latest: LatestService = request.app.state.latest
    return {"ETag": etag, "Cache-Control": f"public, max-age={latest.max_age()}"}


def not_modified(request: Request, etag: str) -> Response | None:
    """A 304 when the client already holds `etag`, else None."""
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=cache_headers(request, etag))
    return None


def json_response(request: Request, body: bytes) -> Response:
    etag = etag_of(body)
    return not_modified(request, etag) or Response(
        body, media_type="application/json", headers=cache_headers(request, etag)
    )


def weak_etag(version: int, query: Hashable) -> str:
    digest = hashlib.blake2b(repr((version, query)).encode(), digest_size=12).hexdigest()
    return f'W/"{digest}"'


class BodyCache:
    """A bounded, thread-safe LRU of rendered bodies (sync endpoints run in a thread pool)."""

    def __init__(
        self, entries: int = CACHED_BODIES, total: int = CACHED_BYTES, largest: int = CACHED_BODY_MAX_BYTES
    ) -> None:
        self.entries = entries
        self.total = total
        self.largest = largest
        self._bodies: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get_or_render(self, key: Hashable, render: Callable[[], bytes]) -> bytes:
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
                QUERY_CACHE.labels("hit").inc()
                return body
        QUERY_CACHE.labels("miss").inc()
        body = render()  # outside the lock: two threads may render the same body once each, never wait
        if len(body) <= self.largest:
            with self._lock:
                if key not in self._bodies:
                    self._bodies[key] = body
                    self._bytes += len(body)
                while len(self._bodies) > self.entries or self._bytes > self.total:
                    self._bytes -= len(self._bodies.popitem(last=False)[1])
        return body


def body_cache(request: Request) -> BodyCache:
    """The application's cache (one per app, so two apps on two databases never share bodies)."""
    cache: BodyCache | None = getattr(request.app.state, "query_bodies", None)
    if cache is None:
        cache = BodyCache()
        request.app.state.query_bodies = cache
    return cache


def cached_json(request: Request, key: Hashable, render: Callable[[], bytes]) -> Response:
    """The body for `key` (which must hold the data version), rendered at most once per key, with ETag/304."""
    return json_response(request, body_cache(request).get_or_render((key, numbers_key()), render))
