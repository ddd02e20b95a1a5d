"""`fx-ticker backfill`: load a source's history from its dated feed (or the NBKR history page).

Polite (at most two requests in flight, each slot pausing between requests), resumable (every day
fetched is marked, in the same transaction as its quotes, and skipped next time) and idempotent
(history is placed into the series where it belongs, so a day stored twice changes nothing).
Consecutive days with the same rate join one span: the TMT peg at 3.50 for years is a single row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

import httpx
from sqlalchemy import Engine

from app.core.clock import utcnow
from app.core.settings import Settings
from app.domain.quotes import Quote
from app.ingest.pipeline import screened
from app.ingest.store import apply_history, fetched_days
from app.sources.base import HistoryPage, ParseError, SourceSpec, url_for
from app.sources.fetch import FetchError, fetch
from app.sources.registry import SOURCES, cadence

MAX_IN_FLIGHT = 2
HISTORY_CHUNK_DAYS = 366  # days asked of a history page at once

Progress = Callable[[int], None]


def backfillable() -> list[str]:
    """Sources with history to load: the dated feeds, the NBKR history page, and declared data."""
    return [name for name, spec in SOURCES.items() if spec.backfills]


def midnight(day: date) -> datetime:
    """A backfilled rate is observed at the start (UTC) of the day it took effect."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


@dataclass(slots=True)
class Summary:
    source: str
    days: int = 0
    skipped: int = 0
    with_rates: int = 0
    without_rates: int = 0
    failed: list[str] = field(default_factory=list)
    opened: int = 0
    extended: int = 0

    def text(self) -> str:
        line = (
            f"{self.source}: {self.days} days asked, {self.skipped} already stored, {self.with_rates} with rates, "
            f"{self.without_rates} without (not published), {len(self.failed)} failed; "
            f"{self.opened} spans opened, {self.extended} extended"
        )
        return "\n".join([line, *(f"  failed: {reason}" for reason in self.failed)])


class Backfill:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        client: httpx.AsyncClient,
        source: str,
        progress: Progress,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.summary = Summary(source)
        self.again = False  # fetching days fetched before (run's `again`)
        self.engine = engine
        self.settings = settings
        self.client = client
        self.progress = progress
        self.clock = clock
        self.slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def _get(self, url: str) -> bytes:
        async with self.slots:
            try:
                fetched = await fetch(self.client, url, self.settings.max_body_bytes)
            finally:
                await asyncio.sleep(self.settings.backfill_delay)
        assert fetched.body is not None
        return fetched.body

    def _store(self, source: str, quotes: list[Quote], days: dict[date, str], expected: date | None) -> int:
        """Validate and place the quotes, mark `days` fetched; the number of quotes kept."""
        today = self.clock().date()
        kept = screened(quotes, self.settings, today=today, expected_day=expected).kept
        if expected is not None and not kept:
            # NBT answering with another day, a holiday, a 404: nothing was published. Except that for the
            # last two days it may just not be published *yet*: those are left unmarked, to be asked again.
            recent = today - timedelta(days=1)
            days = {day: "no_rates" for day in days if day < recent}
        # Days of one rate join one span as long as the rate holds between them (app.domain.freshness: an official
        # daily rate across weekends and the longest holidays).
        hold = cadence(self.settings, source).hold
        result = apply_history(self.engine, source, kept, days=days, max_gap=hold, again=self.again)
        self.summary.failed.extend(str(r) for r in result.rejections)
        self.summary.opened += result.opened
        self.summary.extended += result.extended
        return len(kept)

    def _count(self, days: int, kept: int) -> None:
        self.summary.with_rates += kept
        self.summary.without_rates += days - kept
        self.progress(days)

    async def _fetch_day(self, spec: SourceSpec, day: date) -> list[Quote] | None:
        """The day's quotes ([] when nothing was published), or None when the day failed (retried next run)."""
        try:
            body = await self._get(url_for(self.settings.source_url(spec.name), day))
            return spec.parse(body, midnight(day))
        except FetchError as exc:
            if exc.status == 404:
                return []  # a dated feed with no file for that day: nothing was published
            self.summary.failed.append(f"{day}: {exc}")
        except ParseError as exc:
            self.summary.failed.append(f"{day}: {exc}")
        return None

    async def _dated(self, spec: SourceSpec, days: list[date]) -> None:
        # Fetched concurrently (the semaphore keeps two in flight), stored strictly in date order, so each
        # day meets the series exactly as it was the day before.
        answers = {day: asyncio.ensure_future(self._fetch_day(spec, day)) for day in days}
        for day in days:
            quotes = await answers[day]
            if quotes is None:
                self.progress(1)
                continue
            kept = await asyncio.to_thread(self._store, spec.name, quotes, {day: "ok"}, day)
            self._count(1, min(kept, 1))

    async def _declared(self, spec: SourceSpec, days: list[date]) -> None:
        """Declared data (the peg): nothing to fetch, so every day goes in one transaction."""
        try:
            quotes = [q for day in days for q in spec.parse(b"", midnight(day))]
        except ParseError as exc:
            self.summary.failed.append(str(exc))
            return
        kept = await asyncio.to_thread(self._store, spec.name, quotes, dict.fromkeys(days, "ok"), None)
        self._count(len(days), kept)

    async def _history_chunk(self, spec: SourceSpec, page: HistoryPage, start: date, end: date) -> None:
        template = self.settings.source_history_url(spec.name) or page.url
        url = template.format(start=start, end=end)
        days = days_between(start, end)
        try:
            rows = page.parse(await self._get(url), midnight(start))
        except (FetchError, ParseError) as exc:
            self.summary.failed.append(f"{start}..{end}: {exc}")
            self.progress(len(days))
            return
        # Each row is observed at the start of its own day, not of the page's range.
        quotes = [
            replace(q, observed_at=midnight(q.effective_date))
            for q in rows
            if q.effective_date is not None and start <= q.effective_date <= end
        ]
        kept = await asyncio.to_thread(self._store, spec.name, quotes, dict.fromkeys(days, "ok"), None)
        self._count(len(days), kept)

    async def run(self, start: date, end: date, again: bool = False) -> Summary:
        """Fetch and store the days of [start, end] not fetched before (`again`: every one, for a currency added to
        the served set since: what was stored already is stored again unchanged)."""
        source = self.summary.source
        spec = SOURCES[source]
        self.again = again
        done = set() if again else await asyncio.to_thread(fetched_days, self.engine, source, start, end)
        todo = [day for day in days_between(start, end) if day not in done]
        self.summary.days = (end - start).days + 1
        self.summary.skipped = self.summary.days - len(todo)
        self.progress(self.summary.skipped)
        if not todo:
            return self.summary
        if spec.history is not None:
            for i in range(0, len(todo), HISTORY_CHUNK_DAYS):
                chunk = todo[i : i + HISTORY_CHUNK_DAYS]
                await self._history_chunk(spec, spec.history, chunk[0], chunk[-1])
        elif not spec.fetches:
            await self._declared(spec, todo)
        else:
            await self._dated(spec, todo)
        return self.summary
