"""The in-memory answer of `/rates/latest`, rebuilt when the data changes, never per request.

Dashboards poll this endpoint all day, so a request only looks up bytes that were rendered when the
data last changed: the JSON body and its ETag are computed once per (data version, currency subset).
Processes that do not poll (role `api`) watch a one-row change counter that every write bumps, and
reload when it moves; a reload is a handful of indexed one-row queries.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from app.db import read_session
from app.domain import utcnow
from app.jsonenc import dumps, iso
from app.query import Latest, data_version, latest
from app.settings import Settings


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    etag: str


@dataclass(slots=True)
class Snapshot:
    version: int
    rows: dict[str, tuple[Latest, bool]]  # currency -> (best quote, stale?)
    # Wall-clock seconds: when a rate's staleness flips (forcing a rebuild) and when new data is expected.
    recheck_at: float
    next_poll_at: float
    rendered: dict[tuple[str, ...], Rendered] = field(default_factory=dict)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _rate_json(row: Latest, stale: bool) -> dict[str, Any]:
    return {
        "currency": row.currency,
        "pair": f"{row.currency}/USD",
        "rate": row.rate,
        "inverse": row.inverse,
        "source": row.source,
        "since": row.first_seen,
        "last_seen": row.last_seen,
        "effective_date": row.effective_date,
        "previous_rate": row.previous_rate,
        "change_pct": row.change_pct,
        "reported_change_pct": row.reported_change_pct,
        "stale": stale,
    }


class LatestService:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.snapshot = Snapshot(version=-1, rows={}, recheck_at=0.0, next_poll_at=0.0)

    def _stale_after(self, row: Latest) -> timedelta:
        return timedelta(seconds=self.settings.source_max_gap(row.source))

    def _best(self, currency: str, found: Sequence[Latest], now: datetime) -> tuple[Latest, bool] | None:
        """The first fresh quote in source order; if all are stale, the first one, flagged stale."""
        for row in found:
            if now - row.last_seen <= self._stale_after(row):
                return row, False
        return (found[0], True) if found else None

    def build(self) -> Snapshot:
        now = utcnow()
        with read_session(self.engine) as session:
            version = data_version(session)
            found = {
                currency: [
                    row for source in self.settings.sources if (row := latest(session, currency, source)) is not None
                ]
                for currency in self.settings.currencies
            }
        rows = {c: best for c in self.settings.currencies if (best := self._best(c, found[c], now)) is not None}
        flips = [(row.last_seen + self._stale_after(row)).timestamp() for row, stale in rows.values() if not stale]
        polls = [row.last_seen.timestamp() + self.settings.source_interval(row.source) for row, _ in rows.values()]
        return Snapshot(
            version=version,
            rows=rows,
            recheck_at=min(flips, default=float("inf")),
            next_poll_at=min(polls, default=0.0),
        )

    def reload(self) -> None:
        self.snapshot = self.build()

    def current_version(self) -> int:
        with read_session(self.engine) as session:
            return data_version(session)

    def refresh_if_changed(self) -> bool:
        """Reload when the change counter moved or a staleness flag is due; cheap when nothing happened."""
        if self.current_version() != self.snapshot.version or time.time() >= self.snapshot.recheck_at:
            self.reload()
            return True
        return False

    def render(self, currencies: tuple[str, ...]) -> Rendered:
        """The body for a subset of currencies (empty = all), rendered once per snapshot."""
        snapshot = self.snapshot
        cached = snapshot.rendered.get(currencies)
        if cached is not None:
            return cached
        wanted = set(currencies) or set(snapshot.rows)
        rows = [snapshot.rows[c] for c in self.settings.currencies if c in wanted and c in snapshot.rows]
        as_of = max((row.last_seen for row, _ in rows), default=None)
        body = dumps(
            {
                "base": "USD",
                "as_of": iso(as_of) if as_of else None,
                "rates": [_rate_json(row, stale) for row, stale in rows],
            }
        )
        rendered = Rendered(body, etag_of(body))
        snapshot.rendered[currencies] = rendered
        return rendered

    def best_source(self, currency: str) -> str | None:
        """The source /rates/latest currently takes `currency` from (None before any data)."""
        best = self.snapshot.rows.get(currency)
        return best[0].source if best is not None else None

    def max_age(self) -> int:
        """Seconds a client may cache: never past the moment the next poll is expected."""
        return max(0, int(self.snapshot.next_poll_at - time.time()))
