"""What the polling process knows of a source that the database may not hold yet: a failure it could not write
(the database away, or past a poll's deadline), its back-off, the runs its scheduler skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
