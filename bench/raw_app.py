"""The baseline: the smallest ASGI app that returns fixed bytes (those of /rates/latest, read at start).

Served by the same uvicorn with the same options as fx-ticker, it measures what the server, the loop and
the load generator cost on this machine, so /rates/latest can be judged as a fraction of that ceiling.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

BODY = Path(os.environ["BENCH_BODY_FILE"]).read_bytes()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
