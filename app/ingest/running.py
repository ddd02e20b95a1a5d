"""The poller as a process runs it: started with the process, stopped with it, in the order that loses nothing.

A process whose role polls (`all`, `poller`) holds, for its lifetime, an HTTP client, a database engine of its
own, the poller lock and a scheduler; on the way out it lets the poll in flight finish (or rolls it back) before
it lets go of them. The API's lifespan enters this, and knows nothing of how polls run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.core.settings import Settings
from app.ingest import report
from app.ingest.poller import Poller, poller_engine
from app.sources.fetch import make_client
from app.storage.lock import poller_lock


@contextlib.asynccontextmanager
async def polling(
    settings: Settings,
    on_change: Callable[[], Awaitable[None]],
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Poller]:
    """Poll every enabled source on its schedule until the block ends; `on_change` runs after a poll that stored
    something. `transport` lets tests serve recorded upstream bytes instead of the internet."""
    async with contextlib.AsyncExitStack() as held:  # each part let go of, in reverse, however far start-up got
        client = make_client(settings.http_timeout, settings.user_agent, transport)
        held.push_async_callback(client.aclose)
        writer = poller_engine(settings)
        held.callback(writer.dispose)
        lock = poller_lock(writer)
        held.callback(lock.release)
        poller = Poller(writer, settings, client, lock, on_change=on_change)
        report.zero(settings.sources)
        await asyncio.to_thread(report.seed, writer, settings.sources)
        scheduler = AsyncIOScheduler(timezone="UTC")
        poller.schedule(scheduler)
        scheduler.start()  # inside the running loop, as AsyncIOScheduler requires
        held.push_async_callback(_stop, scheduler, poller, settings.shutdown_timeout)
        yield poller


async def _stop(scheduler: AsyncIOScheduler, poller: Poller, seconds: float) -> None:
    scheduler.pause()  # no new polls; the one in flight finishes (or is cancelled: its write rolls back)
    await poller.drain(seconds)
    scheduler.shutdown(wait=False)
