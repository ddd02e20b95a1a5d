"""The scheduled polls: fetch each source, run the pipeline, tell the API its snapshot is out of date."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine

from app.domain import utcnow
from app.fetch import FetchError, fetch
from app.leader import PollerLock
from app.pipeline import Outcome, fail, process
from app.settings import Settings
from app.sources.base import url_for
from app.sources.registry import SOURCES

log = logging.getLogger(__name__)

OnChange = Callable[[], Awaitable[None]]


class Poller:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        client: httpx.AsyncClient,
        lock: PollerLock,
        on_change: OnChange | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.client = client
        self.lock = lock
        self.on_change = on_change

    async def poll_source(self, name: str) -> Outcome | None:
        """One poll of one source; None when another process holds the poller lock."""
        if not await asyncio.to_thread(self.lock.acquire):
            log.debug("poll of %s skipped: another process holds the poller lock", name)
            return None
        spec = SOURCES[name]
        started_at = utcnow()
        url = url_for(self.settings.source_url(name), started_at.date())
        try:
            body = await fetch(self.client, url, self.settings.max_body_bytes)
        except FetchError as exc:
            outcome = await asyncio.to_thread(fail, self.engine, name, started_at, str(exc))
        else:
            outcome = await asyncio.to_thread(
                process, self.engine, self.settings, spec, body, observed_at=utcnow(), started_at=started_at
            )
        log.log(logging.INFO if outcome.ok else logging.WARNING, "poll %s", outcome.summary())
        if self.on_change is not None:
            await self.on_change()
        return outcome

    async def poll_all(self, names: Iterable[str] | None = None) -> list[Outcome | None]:
        """One poll of each source, one after another (they share one database writer anyway)."""
        return [await self.poll_source(name) for name in (names or self.settings.sources)]

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        for name in self.settings.sources:
            interval = self.settings.source_interval(name)
            scheduler.add_job(
                self.poll_source,
                "interval",
                args=[name],
                id=f"poll-{name}",
                seconds=interval,
                jitter=min(self.settings.poll_jitter, interval // 2),
                # Interval triggers first fire one interval after start: poll at start-up instead.
                next_run_time=utcnow() + timedelta(seconds=1),
                max_instances=1,
                coalesce=True,
                # The default grace of 1 s silently drops a run that starts late (a busy loop, a slow poll).
                misfire_grace_time=max(30, interval // 2),
            )
