"""Memory the process has freed goes back to the system, rather than staying with the thread that freed it.

glibc's malloc gives each thread that allocates an arena of its own, and keeps what is freed there for that
arena's later use: only the free memory at the very top of a heap is ever returned by itself. The API formats a CSV
download's pages in its database worker threads (app.api.dbaccess), one arena each, and sends them from the event
loop's thread; SQLite and libpq allocate their results there too. After a burst of downloads those arenas held
about 10 MiB of freed pages that nothing used, for good. malloc_trim(0) hands every arena's free pages back
(madvise), in about a millisecond.

Limiting the number of arenas (MALLOC_ARENA_MAX=2) did not help: the freed pages then stay in the shared arenas
instead. Elsewhere than glibc (musl, macOS) there is no malloc_trim, and this does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
from collections.abc import Callable

TRIM_DELAY = 1.0  # seconds: downloads that end together are followed by one trim, not one each


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim  # the C library the process runs on
    except (OSError, AttributeError):
        return None
    return trim


_TRIM = _malloc_trim()


def give_back() -> bool:
    """Return the free memory of every malloc arena to the system now; False where the C library cannot."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


class GiveBackSoon:
    """`give_back()` once, TRIM_DELAY seconds after the first of any number of asks (on the event loop)."""

    def __init__(self, delay: float = TRIM_DELAY) -> None:
        self.delay = delay
        self._pending = False

    def ask(self) -> None:
        if self._pending or _TRIM is None:
            return
        self._pending = True
        asyncio.get_running_loop().call_later(self.delay, self._run)

    def _run(self) -> None:
        self._pending = False
        give_back()
