"""HTTP for every source: one shared client, explicit timeouts, a size limit, errors as plain sentences."""

from __future__ import annotations

import httpx

from app import __version__


class FetchError(Exception):
    """The upstream did not give us a usable body; the message says what happened."""


def make_client(
    timeout: float, user_agent: str, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        headers={"User-Agent": user_agent or f"fx-ticker/{__version__}"},
        follow_redirects=True,
        transport=transport,
    )


async def fetch(client: httpx.AsyncClient, url: str, max_bytes: int) -> bytes:
    """The body of a 200 answer, read no further than `max_bytes` (a runaway body is refused, not buffered)."""
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise FetchError(f"HTTP {response.status_code} from {url}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise FetchError(f"response from {url} is larger than the {max_bytes}-byte limit")
            return bytes(body)
    except httpx.TimeoutException:
        raise FetchError(f"timed out fetching {url}") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__} fetching {url}: {exc}") from None
