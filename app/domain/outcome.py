"""How a poll (or an ingest) ended: one word, shared by the store, the poll log, metrics, /ready and /sources."""

from __future__ import annotations

import enum


class PollOutcome(enum.StrEnum):
    OK = "ok"  # the answer was stored whole
    PARTIAL = "partial"  # stored, but some of its quotes were refused (the poll log says which and why)
    UNCHANGED = "unchanged"  # the upstream said 304: what it said before still holds, and was confirmed
    REJECTED = "rejected"  # the upstream answered, with nothing we may store (another day's rates, no file today)
    ERROR = "error"  # no usable answer: a failed request, a body that does not parse, the database away

    @property
    def succeeded(self) -> bool:
        """The upstream answered and what it said is stored or confirmed: the one definition of success."""
        return self in SUCCESSES


SUCCESSES: frozenset[PollOutcome] = frozenset({PollOutcome.OK, PollOutcome.PARTIAL, PollOutcome.UNCHANGED})
