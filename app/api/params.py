"""The query parameters the query endpoints share: times, ranges, periods, currencies and sources.

Every bad value is a 4xx whose detail names the parameter, says what is wrong and shows what would work.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Annotated, Literal, cast

from fastapi import Depends, Path, Query

from app.api.problems import (
    CONFLICTING_PARAMETERS,
    INVALID_PARAMETER,
    SOURCE_NOT_SERVED,
    TOO_MANY_POINTS,
    UNKNOWN_CURRENCY,
    UNKNOWN_SOURCE,
    Problem,
)
from app.core.clock import utcnow
from app.core.jsonenc import iso
from app.core.settings import Settings
from app.domain.calendar import INTERVALS, MAX_BUCKETS, Calendar, Interval, zone_named
from app.domain.validate import MAX_DAYS_AHEAD
from app.domain.values import USD
from app.read.daily import MAX_DAYS
from app.read.history import Window, as_of
from app.sources.registry import not_served_because, served_sources

DEFAULT_RANGE = timedelta(days=30)
HistoryInterval = Literal["raw", "1h", "1d", "1w", "1mo"]
INTERVAL_HELP = (
    "`raw`: the stored spans; `1h`, `1d`, `1w` (from Monday), `1mo` (from the 1st): buckets that begin at local "
    "midnight of `tz` (UTC by default)"
)
IntervalQuery = Annotated[HistoryInterval, Query(description=INTERVAL_HELP)]

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

# What the schema promises, as patterns (`json_schema_extra`: documented, not enforced by FastAPI), so that the
# checks below keep their own precise `detail` messages. Rules across parameters (base equal to the currency,
# start after end, tz with raw) are in the descriptions and in app.api.params' checks. An optional parameter
# given empty (`?start=`, as an HTML form sends an unfilled field) means the same as leaving it out.
CODE_PATTERN = "^[A-Za-z]{3}$"
CODES_PATTERN = "^[A-Za-z]{3}(,[A-Za-z]{3})*$"  # blank items (`KZT,,UZS`, `,`) are skipped, not refused
TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$"
SOURCE_PATTERN = "^[a-z][a-z0-9_]*$"
OR_EMPTY = "^$|"

TimeQuery = Annotated[
    str | None,
    Query(
        description="ISO 8601; no offset means UTC, a bare date means 00:00 UTC",
        examples=["2026-02-01"],
        json_schema_extra={"pattern": OR_EMPTY + TIME_PATTERN},
    ),
]
BaseQuery = Annotated[
    str | None,
    Query(
        description="Give every rate per one unit of this currency instead of per one USD: USD or a configured code; "
        "each pair is then base/C, `rate` units of C per one unit of the base, and each answer says which source "
        "each leg came from",
        examples=["KZT"],
        json_schema_extra={"pattern": OR_EMPTY + CODE_PATTERN},
    ),
]
TzQuery = Annotated[
    str | None,
    Query(
        description="An IANA time zone (default UTC): the days, weeks and months of bucketed answers begin at its "
        "local midnight, and their times are written with its offset",
        examples=["Asia/Almaty"],
    ),
]
CurrenciesQuery = Annotated[
    str | None,
    Query(
        description="Comma-separated codes to include (default: all)",
        examples=["KZT,UZS"],
        json_schema_extra={"pattern": OR_EMPTY + CODES_PATTERN},
    ),
]
CurrencyPath = Annotated[
    str,
    Path(
        description="A configured code (case-insensitive); USD too in another base",
        examples=["KZT"],
        json_schema_extra={"pattern": CODE_PATTERN},
    ),
]
LatestSourceQuery = Annotated[
    str | None,
    Query(
        description="Take every rate from this source instead of the best one per currency",
        examples=["nbk"],
        json_schema_extra={"pattern": OR_EMPTY + SOURCE_PATTERN},
    ),
]
SourceQuery = Annotated[
    str | None,
    Query(
        description="Take the rates from this source (default: the best one per currency)",
        examples=["nbk"],
        json_schema_extra={"pattern": OR_EMPTY + SOURCE_PATTERN},
    ),
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
        raise Problem(
            INVALID_PARAMETER,
            f"parameter '{name}': {raw!r} is not an ISO 8601 date or time; use e.g. {TIME_EXAMPLE}",
            name,
        ) from None
    if not EARLIEST <= moment < LATEST:
        raise Problem(
            INVALID_PARAMETER, f"parameter '{name}': {raw!r} is out of range; use a time from 1900 to 2999", name
        )
    return moment


def required_time(name: str, raw: str) -> datetime:
    """A time that must be given (a path segment): blank is a 422 like any other bad value, never a missing one."""
    moment = parse_time(name, raw)
    if moment is None:
        raise Problem(
            INVALID_PARAMETER,
            f"parameter '{name}': {raw!r} is blank; give an ISO 8601 date or time, e.g. {TIME_EXAMPLE}",
            name,
        )
    return moment


def time_range(start: str | None, end: str | None, default: timedelta, now: datetime) -> tuple[datetime, datetime]:
    """`end` defaults to now and `start` to `default` before `end`; a start after the end is a 422."""
    until = parse_time("end", end) or now
    since = parse_time("start", start) or until - default
    if since > until:
        raise Problem(
            CONFLICTING_PARAMETERS,
            f"start ({iso(since)}) is after end ({iso(until)}); give a start at or before the end",
            "start",
            "end",
        )
    return since, until


def period_range(period: Period | None, start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    """`period` (default 24h) ending at `end` (default now), or an explicit `start`; not both."""
    if period is not None and start is not None and start.strip():
        both = "give either 'period' or 'start' (with an optional 'end'), not both"
        raise Problem(CONFLICTING_PARAMETERS, both, "period", "start")
    return time_range(start, end, PERIODS[period or "24h"], now)


def _codes(settings: Settings, base: str) -> list[str]:
    """The codes an answer in `base` may hold: USD first in another base, then the configured ones but the base."""
    return [code for code in (USD, *settings.currencies) if code != base and (base != USD or code != USD)]


def known_code(name: str, raw: str, valid: Sequence[str]) -> str:
    """A currency code given as parameter `name`, in any case, that must be one of `valid`: the one check every
    code passes, in a path or a query. Blank is a 422 that says what to give; an unknown code one that lists the
    valid codes."""
    code = raw.strip().upper()
    if not code:
        raise Problem(INVALID_PARAMETER, f"parameter '{name}': {raw!r} is blank; give a code such as KZT", name)
    if code not in valid:
        detail = f"parameter '{name}': unknown currency {raw!r}; valid codes: {', '.join(valid)}"
        raise Problem(UNKNOWN_CURRENCY, detail, name)
    return code


def base_code(raw: str | None, settings: Settings) -> str:
    """A `base=` parameter: USD (the default) or a configured code, in any case; anything else is a 422."""
    if raw is None or not raw.strip():
        return USD
    return known_code("base", raw, [USD, *settings.currencies])


def currency_code(raw: str, settings: Settings, base: str = USD, name: str = "currency") -> str:
    """A currency asked for in units of `base` (a `{currency}` path segment): in another base than USD, USD
    itself may be asked for; the base may not (its rate in itself is 1)."""
    if raw.strip().upper() == base:
        raise Problem(
            CONFLICTING_PARAMETERS,
            f"the currency {base} is also the base: ask for another currency, or another base",
            name,
            "base",
        )
    return known_code(name, raw, _codes(settings, base))


def currency_list(raw: str | None, settings: Settings, base: str = USD, itself: bool = False) -> list[str]:
    """`kzt,UZS` as a query parameter: in answer order (USD first in another base, then the configured order);
    an unknown code is a 422. The base itself is first when `itself` (an answer of rates, where it is 1), and a
    422 elsewhere (a history or a change of a constant). Blank items are skipped, so a list with none
    (`currencies=`, `currencies=,`) means what leaving it out means: all."""
    valid = _codes(settings, base)
    codes = {part.strip().upper() for part in (raw or "").split(",") if part.strip()}
    if not codes:
        return valid
    first = [base] if base in codes and itself else []
    codes -= set(first)
    if base in codes:
        raise Problem(
            CONFLICTING_PARAMETERS,
            f"parameter 'currencies': {base} is also the base; leave it out, or ask another base",
            "currencies",
            "base",
        )
    unknown = sorted(codes - set(valid))
    if unknown:
        raise Problem(
            UNKNOWN_CURRENCY,
            f"parameter 'currencies': unknown currency {', '.join(repr(c) for c in unknown)}; "
            f"valid codes: {', '.join(valid)}",
            "currencies",
        )
    return first + [code for code in valid if code in codes]


def raw_zone(raw: str | None, interval: str) -> tzinfo:
    """`tz=` where the interval may be `raw`: the stored spans are written in UTC, so a zone there is a 422."""
    zone = time_zone(raw)
    if interval == "raw" and zone is not UTC:
        raise Problem(
            CONFLICTING_PARAMETERS,
            "parameter 'tz': a time zone applies to bucketed intervals (1h, 1d, 1w, 1mo); raw spans are in UTC",
            "tz",
            "interval",
        )
    return zone


def time_zone(raw: str | None) -> tzinfo:
    """A `tz=` parameter: an IANA zone name (UTC by default); an unknown one is a 422."""
    if raw is None or not raw.strip():
        return UTC
    try:
        return zone_named(raw.strip())
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError; a malformed name a ValueError
        raise Problem(
            INVALID_PARAMETER,
            f"parameter 'tz': unknown time zone {raw!r}; use an IANA name such as Asia/Almaty, or UTC",
            "tz",
        ) from None


def source_name(raw: str | None, settings: Settings) -> str | None:
    """A `source=` parameter: one of the enabled sources (case-insensitive), None when absent, else a 422; a 403
    for a source whose terms forbid serving it (app.sources.registry.servable)."""
    if raw is None or not raw.strip():
        return None
    name = raw.strip().lower()
    if name not in settings.sources:
        raise Problem(
            UNKNOWN_SOURCE,
            f"unknown or disabled source {raw.strip()!r}; enabled sources: {', '.join(settings.sources)}",
            "source",
        )
    refused = not_served_because(settings, name)
    if refused is not None:
        raise Problem(SOURCE_NOT_SERVED, f"{refused}; served sources: {', '.join(served_sources(settings))}", "source")
    return name


def history_window(
    start: str | None,
    end: str | None,
    interval: str,
    default: timedelta,
    now: datetime,
    zone: tzinfo = UTC,
    series: int = 1,
) -> Window:
    """The range and buckets of a history or export request of `series` series, checked."""
    since, until = time_range(start, end, default, now)
    if interval == "raw":
        return Window(since, until, None)
    calendar = Calendar(cast(Interval, interval), zone)
    check_bucket_count(since, until, calendar, series)
    return Window(since, until, calendar, _minute_up(now))


@dataclass(frozen=True, slots=True)
class Asked:
    """A history or export request, validated: the source named (None: the best), the base, the zone, the window
    and the instant it was asked at."""

    source: str | None
    base: str
    zone: tzinfo
    window: Window
    now: datetime

    @property
    def as_of(self) -> datetime | None:
        """The instant whose best source answers the range (app.read.history.as_of)."""
        return as_of(self.window.end, self.now)


@dataclass(frozen=True, slots=True)
class RangeQuery:
    """The parameters every history and export endpoint takes, declared once (`RangeParams`), as given."""

    start: str | None
    end: str | None
    interval: str
    base: str | None
    tz: str | None
    source: str | None

    def base_code(self, settings: Settings) -> str:
        return base_code(self.base, settings)

    def resolve(self, settings: Settings, base: str, series: int = 1) -> Asked:
        """The request checked for `series` series in units of `base` (already checked): a 422 for any bad part."""
        source = source_name(self.source, settings)
        zone = raw_zone(self.tz, self.interval)
        now = utcnow()
        window = history_window(self.start, self.end, self.interval, DEFAULT_RANGE, now, zone, series)
        return Asked(source, base, zone, window, now)


def _range_query(
    start: TimeQuery = None,
    end: TimeQuery = None,
    interval: IntervalQuery = "raw",
    base: BaseQuery = None,
    tz: TzQuery = None,
    source: SourceQuery = None,
) -> RangeQuery:
    return RangeQuery(start, end, interval, base, tz, source)


RangeParams = Annotated[RangeQuery, Depends(_range_query)]


def _minute_up(moment: datetime) -> datetime:
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(minutes=1)


def check_bucket_count(start: datetime, end: datetime, calendar: Calendar, series: int = 1) -> None:
    """More than MAX_BUCKETS buckets in all is a 422 that names an interval (or range) that would do."""
    count = calendar.count(start, end) * series
    if count <= MAX_BUCKETS:
        return
    interval = calendar.interval
    longer = [Calendar(name, calendar.zone) for name in INTERVALS[INTERVALS.index(interval) + 1 :]]
    fits = [(c.interval, n) for c in longer if 0 < (n := c.count(start, end) * series) <= MAX_BUCKETS]
    hint = f"use interval={fits[0][0]} ({fits[0][1]:,} buckets) or a shorter range" if fits else "use a shorter range"
    each = f" ({series} series)" if series > 1 else ""
    raise Problem(
        TOO_MANY_POINTS,
        f"interval={interval} from {iso(start)} to {iso(end)} gives {count:,} buckets{each}, more than the limit of "
        f"{MAX_BUCKETS:,}; {hint}",
        "interval",
        "start",
        "end",
    )


def parse_day(name: str, raw: str, today: date) -> date:
    """A `YYYY-MM-DD` parameter, no later than a bank may announce a rate ahead (app.domain.validate)."""
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        detail = f"parameter '{name}': {raw!r} is not a date; give YYYY-MM-DD, such as 2026-04-01"
        raise Problem(INVALID_PARAMETER, detail, name) from None
    if (day - today).days > MAX_DAYS_AHEAD:
        detail = f"parameter '{name}': {day} is too far ahead; ask for a date up to {today + timedelta(MAX_DAYS_AHEAD)}"
        raise Problem(INVALID_PARAMETER, detail, name)
    return day


def check_range(first: date, last: date, start: str, end: str) -> None:
    """A range of dates `start`..`end` (the parameters' names) that runs forwards and is not too long."""
    if last < first:
        detail = f"parameter '{end}': {last} is before {start} ({first}); give {end} on or after {start}"
        raise Problem(CONFLICTING_PARAMETERS, detail, *dict.fromkeys((start, end)))
    if (last - first).days + 1 > MAX_DAYS:
        detail = (
            f"parameters '{start}' and '{end}': {(last - first).days + 1} dates; ask for at most {MAX_DAYS} at once"
        )
        raise Problem(TOO_MANY_POINTS, detail, *dict.fromkeys((start, end)))
