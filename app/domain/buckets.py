"""A rate series as a step function, cut into UTC buckets (hour, day, week, month). Pure: no database.

The rate in force at an instant t is the value of the latest span that began at or before t, as long as t is
no later than that span's last_seen plus the source's allowed gap (a source that stopped confirming a value
does not keep it alive forever); after that nothing is in force until the next span begins.

A bucket [t, next t) then has:
  open   the rate in force at t, or if none, the first value that begins within the bucket;
  high   the largest rate in force at any moment within it (the value carried in at t counts);
  low    the smallest, likewise;
  close  the last rate in force within it (at its end, or the last one before it lapsed).
Nothing in force within a bucket at all: all four are None.

What the spans that *begin* within each bucket add up to comes from the hourly rollup (app.ingest.rollup, combined by
app.read.series.bucket_groups); one pass here adds the value carried in from the bucket before, so a year of
per-minute spans never comes into Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from app.domain.values import Value

Interval = Literal["1h", "1d", "1w", "1mo"]
INTERVALS: tuple[Interval, ...] = ("1h", "1d", "1w", "1mo")
# One JSON answer (or one currency of a CSV export) holds at most this many buckets: 10,000 is more than a
# year of hours, and a client that wants more asks for a longer interval or a shorter range.
MAX_BUCKETS = 10_000

_FIXED = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "1w": timedelta(weeks=1)}


def floor(moment: datetime, interval: Interval) -> datetime:
    """The start of the bucket holding `moment` (aware UTC): weeks start on Monday, months on the 1st."""
    if interval == "1h":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "1d":
        return day
    if interval == "1w":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def following(start: datetime, interval: Interval) -> datetime:
    """The start of the bucket after the one that starts at `start`."""
    if interval != "1mo":
        return start + _FIXED[interval]
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def ceil(start: datetime, interval: Interval) -> datetime:
    """The first bucket start at or after `start`."""
    aligned = floor(start, interval)
    return aligned if aligned == start else following(aligned, interval)


def bucket_count(start: datetime, end: datetime, interval: Interval) -> int:
    """How many bucket starts lie in [start, end], without listing them."""
    first, last = ceil(start, interval), floor(end, interval)
    if first > last:
        return 0
    if interval == "1mo":
        return (last.year - first.year) * 12 + last.month - first.month + 1
    return (last - first) // _FIXED[interval] + 1


def bucket_starts(start: datetime, end: datetime, interval: Interval) -> list[datetime]:
    """Every bucket start t with start <= t <= end, oldest first."""
    starts = []
    t = ceil(start, interval)
    while t <= end:
        starts.append(t)
        t = following(t, interval)
    return starts


@dataclass(frozen=True, slots=True)
class Group:
    """The spans that begin within one bucket, summed up: first and last value, and the extreme rates."""

    bucket: datetime
    first_seen: datetime  # of the first of them
    first: Value
    last: Value
    last_seen: datetime  # of the last of them: how long it may be carried into the next buckets
    low: Decimal
    high: Decimal


@dataclass(frozen=True, slots=True)
class Carried:
    """The latest span begun before a bucket: it is still in force at the bucket start unless it lapsed."""

    value: Value
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class Bucket:
    t: datetime
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    close: Value | None = None  # as a value, so that an export can give both directions

    @property
    def empty(self) -> bool:
        return self.close is None


def ohlc(starts: Iterable[datetime], carried: Carried | None, groups: Iterable[Group], gap: timedelta) -> list[Bucket]:
    """One bucket per start, in one pass: `groups` are those of the same buckets, `carried` the span before them."""
    by_bucket = {group.bucket: group for group in groups}
    buckets = []
    for t in starts:
        group = by_bucket.get(t)
        held = carried if carried is not None and t <= carried.last_seen + gap else None
        if group is not None and group.first_seen <= t:
            held = None  # a span that begins exactly at t replaces the one before it
        if group is None:
            buckets.append(Bucket(t) if held is None else _flat(t, held.value))
            continue
        rates = [group.low, group.high] + ([held.value.rate] if held is not None else [])
        opening = held.value.rate if held is not None else group.first.rate
        buckets.append(Bucket(t, opening, max(rates), min(rates), group.last))
        carried = Carried(group.last, group.last_seen)
    return buckets


def _flat(t: datetime, value: Value) -> Bucket:
    rate = value.rate
    return Bucket(t, rate, rate, rate, value)
