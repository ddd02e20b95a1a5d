"""Bucket boundaries: hours, days, weeks (from Monday) and months (from the 1st) in a time zone. Pure.

Days in Almaty or Tashkent begin at local midnight, which is a different UTC instant from one era to the next
(Kazakhstan moved from UTC+6 to UTC+5 on 2024-03-01, so 29 February 2024 lasted 25 hours there). Every
computation here is on instants: a boundary is found in local time and turned into UTC at once, and arithmetic
is done in UTC (Python adds wall-clock time to an aware datetime of a zone, which is wrong across a change of
offset). Hourly buckets follow the zone's offset too: in Kolkata (UTC+5:30) they begin at half past the UTC hour.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

Interval = Literal["1h", "1d", "1w", "1mo"]
INTERVALS: tuple[Interval, ...] = ("1h", "1d", "1w", "1mo")
# One JSON answer (or one currency of a CSV export) holds at most this many buckets: 10,000 is more than a
# year of hours, and a client that wants more asks for a longer interval or a shorter range.
MAX_BUCKETS = 10_000
HOUR = timedelta(hours=1)


def _day_start(day: date, zone: tzinfo) -> datetime:
    """The first instant of `day` in `zone`, in UTC. A midnight the clocks skip (a change of offset at 00:00)
    resolves to the instant of the change, which is when that day begins."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def _next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


@dataclass(frozen=True, slots=True)
class Calendar:
    """The buckets of one interval in one zone. Every instant given or returned is an aware UTC datetime."""

    interval: Interval
    zone: tzinfo = UTC

    def floor(self, moment: datetime) -> datetime:
        """The start of the bucket holding `moment`."""
        local = moment.astimezone(self.zone)
        if self.interval == "1h":
            return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        day = local.date()
        if self.interval == "1w":
            day -= timedelta(days=day.weekday())
        elif self.interval == "1mo":
            day = day.replace(day=1)
        return _day_start(day, self.zone)

    def following(self, start: datetime) -> datetime:
        """The start of the bucket after the one that starts at `start`."""
        if self.interval == "1h":
            later = self.floor(start + HOUR)
            # A change of offset by half an hour moves the local hour boundaries: never step backwards or stand still.
            return later if later > start else start + HOUR
        day = start.astimezone(self.zone).date()
        if self.interval == "1d":
            return _day_start(day + timedelta(days=1), self.zone)
        if self.interval == "1w":
            return _day_start(day + timedelta(days=7), self.zone)
        return _day_start(_next_month(day), self.zone)

    def ceil(self, moment: datetime) -> datetime:
        """The first bucket start at or after `moment`."""
        aligned = self.floor(moment)
        return aligned if aligned == moment else self.following(aligned)

    def starts(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Every bucket start t with start <= t <= end, oldest first."""
        t = self.ceil(start)
        while t <= end:
            yield t
            t = self.following(t)

    def count(self, start: datetime, end: datetime) -> int:
        """How many bucket starts lie in [start, end], without listing them (exact, but for hours across a change
        of offset by a fraction of an hour, where it may count one more; used to refuse answers that would be
        too long)."""
        first, last = self.ceil(start), self.floor(end)
        if first > last:
            return 0
        if self.interval == "1mo":
            a, b = first.astimezone(self.zone), last.astimezone(self.zone)
            return (b.year - a.year) * 12 + b.month - a.month + 1
        if self.interval in ("1d", "1w"):  # local midnights: whole days apart on the calendar, whatever the offsets
            days = (last.astimezone(self.zone).date() - first.astimezone(self.zone).date()).days
            return days // (7 if self.interval == "1w" else 1) + 1
        # Hours: whole hours apart, unless the offset changed by a fraction of one (Lord Howe's half hour): then
        # rounded up, so that the count is never short.
        return -(-(last - first) // HOUR) + 1

    def local(self, moment: datetime) -> datetime:
        """How a bucket start is written: in the zone's own offset (`2026-02-23T00:00:00+05:00`)."""
        return moment.astimezone(self.zone) if self.zone is not UTC else moment


def zone_named(name: str) -> tzinfo:
    """An IANA zone by name (`Asia/Almaty`); `UTC` is the default. KeyError/ValueError for an unknown name."""
    if name.upper() in ("UTC", "Z", "ETC/UTC"):
        return UTC
    return ZoneInfo(name)


def consecutive(moments: Iterable[datetime], step: timedelta) -> list[tuple[datetime, datetime]]:
    """`moments` (sorted) as runs in which each is `step` after the one before: (first, last) of each run. A run of
    hours or days is one range of an index (the rollups read and delete by such ranges)."""
    found: list[tuple[datetime, datetime]] = []
    for moment in moments:
        if found and moment - found[-1][1] == step:
            found[-1] = (found[-1][0], moment)
        else:
            found.append((moment, moment))
    return found


def hour_ranges(hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """[start, end) of each run of consecutive hours among `hours` (any order, repeats allowed), in order."""
    hour = timedelta(hours=1)
    return [(first, last + hour) for first, last in consecutive(sorted(set(hours)), hour)]
