"""A conversion: an amount of one currency in another, each side the value in force at the instant asked for.

Without an instant, each side is what /rates/latest serves now: the last known value, flagged stale even past
its hold. At an instant, the one rule of /rates/at (app.read.inforce) chooses the value and its source.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from app.core.clock import utcnow
from app.core.jsonenc import iso
from app.core.numbers import plain
from app.core.settings import Settings
from app.domain.cross import cross
from app.domain.freshness import State
from app.domain.values import USD
from app.read.history import NoData, series_for
from app.read.inforce import Held, in_force
from app.read.latest import LatestService
from app.read.series import first_span_after, span_at


def _side(
    conn: Connection,
    settings: Settings,
    latest: LatestService,
    code: str,
    asked: str | None,
    moment: datetime,
    now: bool,
) -> Held:
    """The value `code` converts at `moment` (`now`: no instant was asked for); NoData, saying why, when none."""
    held = in_force(conn, settings, code, moment, asked)
    if held is not None:
        return held
    source = series_for(conn, latest, settings, code, asked).source  # NoData: none from any source
    earlier = span_at(conn, code, source, moment)
    if now and earlier is not None:  # now: the last known value, flagged stale, as /rates/latest serves it
        return Held(code, source, earlier, State.STALE, moment, earlier.last_seen, earlier.effective_date)
    if earlier is not None:  # past its hold
        hint = f"its last value was seen at {iso(earlier.last_seen)}"
    else:
        later = first_span_after(conn, code, source, moment)
        hint = f"its first value is from {iso(later.first_seen)}" if later else "it has none stored"
    raise NoData(f"no {code} rate from {source} in force at {iso(moment)}; {hint}")


def _used(held: Held) -> dict[str, Any]:
    return {
        "source": held.source,
        "rate": held.value.per_base,  # units of the side's currency per one USD
        "since": held.first_seen,
        "last_seen": held.last_seen,
        "stale": held.stale,
    }


def conversion(
    conn: Connection,
    settings: Settings,
    latest: LatestService,
    codes: tuple[str, str],
    amount: Decimal,
    at: datetime | None,
    asked: str | None,
) -> dict[str, Any]:
    """`amount` of `codes[0]` in `codes[1]` (either may be USD) at `at` (None: now), each side from `asked` or the
    best source: the answer of /convert."""
    source_code, target_code = codes
    moment = at or utcnow()
    sides = {
        code: _side(conn, settings, latest, code, asked, moment, at is None)
        for code in dict.fromkeys(codes)
        if code != USD
    }
    values = [sides[code].value if code in sides else None for code in codes]
    rate, result = cross(amount, *values)
    return {
        "from": source_code,
        "to": target_code,
        "amount": plain(amount),
        "rate": rate,
        "result": result,
        "at": moment,
        "sources": {code: _used(held) for code, held in sides.items()},
    }
