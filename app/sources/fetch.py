"""HTTP for every source: one shared client, explicit timeouts, a size limit, conditional requests,
and every failure turned into one sentence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from app import __version__


class FetchError(Exception):
    """The upstream did not give us a usable body; the message says what happened."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Validators:
    """What the upstream said identifies its answer, to ask next time whether it changed."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)


@dataclass(frozen=True, slots=True)
class Fetched:
    body: bytes | None  # None: 304 Not Modified, the previous answer still holds
    validators: Validators


def make_client(
    timeout: float, user_agent: str, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        headers={"User-Agent": user_agent or f"fx-ticker/{__version__}"},
        follow_redirects=True,
        transport=transport,
    )


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


async def _read(response: httpx.Response, url: str, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"response from {url} declares {declared} bytes, over the {max_bytes}-byte limit")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise FetchError(f"response from {url} is larger than the {max_bytes}-byte limit")
    return bytes(body)


async def fetch(client: httpx.AsyncClient, url: str, max_bytes: int, validators: Validators | None = None) -> Fetched:
    """The body of a 200 answer (read no further than `max_bytes`), or None for a 304."""
    headers = validators.headers() if validators else {}
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304 and validators:
                return Fetched(None, validators)
            if response.status_code != 200:
                raise FetchError(
                    f"HTTP {response.status_code} from {url}",
                    status=response.status_code,
                    retry_after=retry_after_seconds(response.headers.get("retry-after")),
                )
            body = await _read(response, url, max_bytes)
            found = Validators(response.headers.get("etag"), response.headers.get("last-modified"))
            return Fetched(body, found)
    except httpx.TimeoutException:
        raise FetchError(f"timed out fetching {url}") from None
    except httpx.HTTPError as exc:
        # Includes a body cut short mid-transfer (RemoteProtocolError): never half a snapshot.
        raise FetchError(f"{type(exc).__name__} fetching {url}: {exc}") from None
