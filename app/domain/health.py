"""What the polling process knows of a source that the database may not hold yet, and how the two are combined.

The store writes each poll's outcome into `source_state` with its poll-log row, so `/sources` and `/ready` read
what the database holds. While the database cannot take a write (the disk is full, it is away, it stalls past a
poll's deadline) the failures pile up in the poller's memory instead, and the database still shows the last
success: a process that polls overlays what it knows (`PollerView`), newer over older. Another process (an API
replica) cannot see that memory; what it can tell from the database alone is that no poll has been recorded
since one was due (`overdue`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class PollerView:
    """One source as the process polling it sees it now."""

    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    backoff_until: datetime | None = None
    next_poll_at: datetime | None = None
    unrecorded: int = 0  # failed polls whose poll-log rows wait in memory for the database to take them
    runs_skipped: int = 0  # scheduled runs skipped because the previous poll still ran
    last_run_skipped_at: datetime | None = None


def latest(stored: datetime | None, seen: datetime | None) -> datetime | None:
    """The later of two instants, either of which may be unknown."""
    if stored is None or seen is None:
        return stored or seen
    return max(stored, seen)


def newer(seen: datetime | None, stored: datetime | None) -> bool:
    """Whether what the poller saw at `seen` is newer than what the database holds from `stored`."""
    return seen is not None and (stored is None or seen > stored)


def overdue(due: datetime | None, grace: timedelta, now: datetime) -> bool | None:
    """Whether a poll due at `due` should have been recorded by `now`, given `grace` for it to run and be written;
    None when nothing says when one was due (the source was never polled)."""
    if due is None:
        return None
    return now > due + grace
