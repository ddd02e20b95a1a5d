"""The query parameters the query endpoints share: times, ranges, periods, currencies and sources.

Every bad value is a 4xx whose detail names the parameter, says what is wrong and shows what would work.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, cast

from fastapi import HTTPException, Query
from sqlalchemy import Connection

from app.core.jsonenc import iso
from app.core.settings import Settings
from app.domain.buckets import INTERVALS, MAX_BUCKETS, Interval, bucket_count
from app.read.latest import LatestService
from app.read.series import has_spans

TIME_EXAMPLE = "2026-02-23 or 2026-02-23T10:00:00Z"
# Far enough for any history, near enough that date arithmetic (a period before, a bucket after) cannot overflow.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)

Period = Literal["24h", "7d", "30d", "90d", "1y"]
PERIODS: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "1y": timedelta(days=365),
}

# An unencoded `+` in a query string arrives as a space: `10:00:00 05:00` meant `10:00:00+05:00`.
_SPACED_OFFSET = re.compile(r"(?<=\d) (\d{2}(?::?\d{2})?)$")

TimeQuery = Annotated[
    str | None,
    Query(description="ISO 8601; no offset means UTC, a bare date means 00:00 UTC", examples=["2026-02-01"]),
]
CurrenciesQuery = Annotated[
    str | None, Query(description="Comma-separated codes to include (default: all)", examples=["KZT,UZS"])
]
LatestSourceQuery = Annotated[
    str | None,
    Query(description="Take every rate from this source instead of the best one per currency", examples=["nbk"]),
]
SourceQuery = Annotated[
    str | None,
    Query(description="Take the rates from this source (default: the best one per currency)", examples=["nbk"]),
]


def parse_time(name: str, raw: str | None) -> datetime | None:
    """An ISO 8601 date or time as an aware UTC datetime; None when the parameter is absent or empty."""
    if raw is None or not raw.strip():
        return None
    text = _SPACED_OFFSET.sub(r"+\1", raw.strip())
    try:
        parsed = datetime.fromisoformat(text)
        moment = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise HTTPException(
            422, f"parameter '{name}': {raw!r} is not an ISO 8601 date or time; use e.g. {TIME_EXAMPLE}"
        ) from None
    if not EARLIEST <= moment < LATEST:
        raise HTTPException(422, f"parameter '{name}': {raw!r} is out of range; use a time from 1900 to 2999")
    return moment


def time_range(start: str | None, end: str | None, default: timedelta, now: datetime) -> tuple[datetime, datetime]:
    """`end` defaults to now and `start` to `default` before `end`; a start after the end is a 422."""
    until = parse_time("end", end) or now
    since = parse_time("start", start) or until - default
    if since > until:
        raise HTTPException(422, f"start ({iso(since)}) is after end ({iso(until)}); give a start at or before the end")
    return since, until


def period_range(period: Period | None, start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    """`period` (default 24h) ending at `end` (default now), or an explicit `start`; not both."""
    if period is not None and start is not None and start.strip():
        raise HTTPException(422, "give either 'period' or 'start' (with an optional 'end'), not both")
    return time_range(start, end, PERIODS[period or "24h"], now)


def currency_code(raw: str, settings: Settings) -> str:
    """A `{currency}` path segment, case-insensitive; an unknown one is a 404 that lists the valid codes."""
    code = raw.strip().upper()
    if code not in settings.currencies:
        raise HTTPException(404, f"unknown currency {raw!r}; valid codes: {', '.join(settings.currencies)}")
    return code


def currency_list(raw: str | None, settings: Settings) -> list[str]:
    """`kzt,UZS` as a query parameter: configured order, all when absent; an unknown code is a 422."""
    if raw is None or not raw.strip():
        return list(settings.currencies)
    codes = {part.strip().upper() for part in raw.split(",") if part.strip()}
    if not codes:
        raise HTTPException(
            422,
            f"parameter 'currencies': {raw!r} names no currency; list codes such as KZT,UZS, or leave it out for all",
        )
    unknown = sorted(codes - set(settings.currencies))
    if unknown:
        raise HTTPException(
            422,
            f"unknown currency {', '.join(repr(c) for c in unknown)}; valid codes: {', '.join(settings.currencies)}",
        )
    return [code for code in settings.currencies if code in codes]


def source_name(raw: str | None, settings: Settings) -> str | None:
    """A `source=` parameter: one of the enabled sources (case-insensitive), None when absent, else a 422."""
    if raw is None or not raw.strip():
        return None
    name = raw.strip().lower()
    if name not in settings.sources:
        raise HTTPException(
            422, f"unknown or disabled source {raw.strip()!r}; enabled sources: {', '.join(settings.sources)}"
        )
    return name


def default_source(conn: Connection, latest: LatestService, settings: Settings, currency: str) -> str | None:
    """The source /rates/latest takes `currency` from; before any snapshot, the first enabled one with data."""
    best = latest.best_source(currency)
    if best is not None:
        return best
    return next((source for source in settings.sources if has_spans(conn, currency, source)), None)


def series_source(conn: Connection, latest: LatestService, settings: Settings, currency: str, asked: str | None) -> str:
    """The source asked for, or the default one; a currency with no data from any source yet is a 404."""
    if asked is not None:
        return asked
    found = default_source(conn, latest, settings, currency)
    if found is None:
        raise HTTPException(404, f"no data for {currency} yet")
    return found


def history_window(
    start: str | None, end: str | None, interval: str, default: timedelta, now: datetime
) -> tuple[datetime, datetime, Interval | None]:
    """The range and bucket interval (None for `raw`) of a history or export request, checked."""
    since, until = time_range(start, end, default, now)
    bucketed: Interval | None = None if interval == "raw" else cast(Interval, interval)
    if bucketed is not None:
        check_bucket_count(since, until, bucketed)
    return since, until, bucketed


def check_bucket_count(start: datetime, end: datetime, interval: Interval) -> None:
    """More than MAX_BUCKETS buckets is a 422 that names an interval (or range) that would do."""
    count = bucket_count(start, end, interval)
    if count <= MAX_BUCKETS:
        return
    longer = [(name, n) for name in INTERVALS[INTERVALS.index(interval) + 1 :] if (n := bucket_count(start, end, name))]
    fits = [(name, n) for name, n in longer if n <= MAX_BUCKETS]
    hint = f"use interval={fits[0][0]} ({fits[0][1]:,} buckets) or a shorter range" if fits else "use a shorter range"
    raise HTTPException(
        422,
        f"interval={interval} from {iso(start)} to {iso(end)} gives {count:,} buckets, more than the limit of "
        f"{MAX_BUCKETS:,}; {hint}",
    )
