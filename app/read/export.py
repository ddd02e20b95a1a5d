"""CSV export, streamed: rows go from the database to the client in bounded chunks, never all at once.

A year of per-minute spans is half a million rows. They are read a page (EXPORT_PAGE rows) at a time, each page
by one short query on a connection of its own that goes back to the pool before the page is sent: the next page
starts after the last row sent (keyset pagination on the unique (currency, source, first_seen) index). So nothing,
neither a connection nor a transaction nor a cursor, is held while the client reads: one that reads slowly or hangs
up costs the database nothing. A bucketed series is bounded (10,000 buckets), so it is computed whole, its
connection given back, and then sent. Each page is cut into chunks of EXPORT_CHUNK rows, joined into bytes.
The database formats the times, decimals are written as their exact text, and the direction a source did not
publish is derived once per distinct value, so the hot loop builds no datetime, Decimal or ORM object.

Lines are joined by hand rather than by the csv module (about 1.7 times as fast here): every field is a time, a code or
a number, and anything else is quoted per RFC 4180 by _field, so the file is the same either way.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, and_, select

from app.core.abandon import checkpoint
from app.core.jsonenc import iso
from app.domain.calendar import Calendar
from app.domain.steps import NEVER
from app.domain.values import USD, invert, plain_text
from app.read.history import Pair, cross_page, stamp
from app.read.series import SPANS, Series, series_buckets, start_of_span_at
from app.storage.dialect import iso_text

# Rows per fetch and per chunk sent (about 45 kB). Small on purpose: rows that die before the garbage collector's
# next young-generation pass are never promoted, so the collector never walks the whole heap; 10,000-row chunks
# made the export two to three times slower in a process with a large heap.
EXPORT_CHUNK = 500
# Rows per query (about 450 kB): each page costs a pool checkout and a query, so pages are larger than chunks (at
# 5,000 rows the export is as fast as one long cursor was; at 500, a third slower); still bounded, and the driver
# hands the page over in one go (no server-side cursor to keep open between pages).
EXPORT_PAGE = 10 * EXPORT_CHUNK
RAW_HEADER = ("timestamp", "until", "currency", "pair", "rate", "inverse", "source")
BUCKET_HEADER = ("timestamp", "currency", "pair", "rate", "average", "inverse", "source")
BASE_COLUMN = "base_source"  # in another base than USD: the source of the base's rates

_C = SPANS.c
_PLAIN = re.compile(r"[0-9A-Za-z.:+/_-]*")


def filename(start: datetime, end: datetime) -> str:
    """`fx-rates_2026-01-01_2026-02-01.csv`, or compact UTC timestamps when a bound is not midnight."""

    def part(moment: datetime) -> str:
        if moment == moment.replace(hour=0, minute=0, second=0, microsecond=0):
            return moment.strftime("%Y-%m-%d")
        return moment.strftime("%Y%m%dT%H%M%SZ")

    return f"fx-rates_{part(start)}_{part(end)}.csv"


def _field(text: str) -> str:
    """A CSV field (RFC 4180): quoted only if it holds anything but the characters of times, codes and numbers."""
    if _PLAIN.fullmatch(text):
        return text
    return '"' + text.replace('"', '""') + '"'


class _Directions:
    """'rate,inverse' for a stored value (`rate`: units of the currency per one USD): the published direction
    verbatim, the other derived, memoized.

    One per page, dropped with it: a memo kept for the whole export held an entry for nearly every row already
    sent (a year of the ticker has a new value every minute), about 220 bytes a row, so a download that ran ahead
    into the socket's buffers kept megabytes for a client that had stopped reading."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, bool], str] = {}

    def __call__(self, value: str, per_usd: bool) -> str:
        found = self._memo.get((value, per_usd))
        if found is None:
            derived = str(invert(Decimal(value)))
            rate, inverse = (value, derived) if per_usd else (derived, value)
            found = f"{_field(rate)},{_field(inverse)}"
            self._memo[(value, per_usd)] = found
        return found


def _line(*fields: str) -> str:
    return ",".join(_field(field) for field in fields) + "\r\n"


def _raw_page(
    conn: Connection, series: Series, start: datetime, end: datetime, after: datetime | None
) -> tuple[list[bytes], datetime | None]:
    """Up to EXPORT_PAGE rows of the series beginning after `after` (None: from the span in force at `start`), as
    chunks, and where the next page begins (None: this was the last)."""
    if after is None:
        lower = start_of_span_at(conn, series.currency, series.source, start) or start
        begins = _C.first_seen >= lower
    else:
        begins = _C.first_seen > after
    statement = (
        select(iso_text(conn, _C.first_seen), iso_text(conn, _C.last_seen), _C.value, _C.per_usd)
        .where(_C.currency == series.currency, _C.source == series.source)
        .where(and_(begins, _C.first_seen <= end, _C.last_seen >= start))
        .order_by(_C.first_seen)
        .limit(EXPORT_PAGE)
    )
    # Times come formatted from the database and the currency, pair and source are fixed: only the decimals
    # go through _field (once per distinct value), so no per-row quoting check is needed.
    middle = "," + _line(series.currency, f"{USD}/{series.currency}").removesuffix("\r\n") + ","
    tail = "," + _line(series.source)
    directions = _Directions()
    chunks: list[bytes] = []
    rows = 0
    last = ""
    checkpoint()  # the client may have gone: app.core.abandon
    for part in conn.execute(statement).partitions(EXPORT_CHUNK):
        checkpoint()
        rows += len(part)
        last = part[-1][0]
        chunks.append(
            "".join(
                [f"{first},{until}{middle}{directions(value, per_usd)}{tail}" for first, until, value, per_usd in part]
            ).encode()
        )
    # The text of the last start is exact (microseconds included), so it is where the next page begins.
    return chunks, datetime.fromisoformat(last) if rows == EXPORT_PAGE else None


def _cross_page(
    conn: Connection, pair: Pair, start: datetime, end: datetime, after: datetime | None
) -> tuple[list[bytes], datetime | None]:
    """One page of the raw cross rates of `pair` (app.read.history.cross_page, as raw JSON reads them), as chunks,
    and where the next page begins (None: this was the last)."""
    pieces, following = cross_page(conn, pair, start, end, after, EXPORT_PAGE)
    code = f"{pair.currency},{pair.name}"
    sources = f"{pair.quote_leg.source if pair.quote_leg else ''},{pair.base_leg.source if pair.base_leg else ''}"
    lines = [
        _line(iso(p.since), iso(p.until), *code.split(","), plain_text(p.level.per_base), plain_text(p.level.in_base),
              *sources.split(","))
        for p in pieces
    ]  # fmt: skip
    return _chunked(lines), following


def _chunked(lines: list[str]) -> list[bytes]:
    return ["".join(lines[at : at + EXPORT_CHUNK]).encode() for at in range(0, len(lines), EXPORT_CHUNK)]


def _bucket_chunks(
    conn: Connection, pair: Pair, start: datetime, end: datetime, calendar: Calendar, horizon: datetime
) -> list[bytes]:
    """One row per bucket with a rate in force (its close, and its average); buckets with none are left out."""
    pair_name = pair.name
    sources = [pair.quote_leg.source if pair.quote_leg else ""] + ([pair.base_leg.source] if pair.base_leg else [])
    lines = [
        _line(
            stamp(b.t, calendar.zone), pair.currency, pair_name, plain_text(b.close.per_base),
            plain_text(b.average) if b.average is not None else "", plain_text(b.close.in_base), *sources,
        )
        for b in series_buckets(conn, pair.quote_leg, calendar, start, end, pair.base_leg, horizon)
        if b.close is not None
    ]  # fmt: skip
    return _chunked(lines)


class CsvExport:
    """The whole CSV file (no calendar: raw spans), pair after pair, each oldest first, as a sequence of steps:
    each `step()` reads one page (or one bucketed series) on a short-lived connection and gives it back before
    returning its chunks, so between steps nothing of the database is held. Not thread-safe: one step at a time
    (they may run on different threads)."""

    def __init__(
        self,
        engine: Engine,
        pairs: list[Pair],
        start: datetime,
        end: datetime,
        calendar: Calendar | None,
        horizon: datetime = NEVER,
        base: str = USD,
    ) -> None:
        self.engine = engine
        self.start, self.end, self.calendar, self.horizon = start, end, calendar, horizon
        self._todo = list(pairs)
        header: tuple[str, ...] = RAW_HEADER if calendar is None else BUCKET_HEADER
        if base != USD:  # asked for, not found in the pairs: a file with none of them has the same columns
            header = (*header, BASE_COLUMN)
        self._header: bytes | None = _line(*header).encode()
        self._after: datetime | None = None  # where the current raw series continues (None: at its beginning)

    @property
    def done(self) -> bool:
        return self._header is None and not self._todo

    def step(self) -> list[bytes]:
        """The next chunks of the file (the header comes with the first); empty once the file is complete."""
        header = [self._header] if self._header is not None else []
        self._header = None
        rows: list[bytes] = []
        while self._todo and not rows:  # a series may have no rows in the range: go on to the next
            with self.engine.connect() as conn:  # given back to the pool before anything is sent
                rows = self._next(conn, self._todo[0])
        return header + rows

    def _next(self, conn: Connection, pair: Pair) -> list[bytes]:
        if self.calendar is not None:
            self._todo.pop(0)
            return _bucket_chunks(conn, pair, self.start, self.end, self.calendar, self.horizon)
        if pair.base_leg is None:
            assert pair.quote_leg is not None
            chunks, self._after = _raw_page(conn, pair.quote_leg, self.start, self.end, self._after)
        else:
            chunks, self._after = _cross_page(conn, pair, self.start, self.end, self._after)
        if self._after is None:
            self._todo.pop(0)
        return chunks


def csv_stream(
    engine: Engine, pairs: list[Pair], start: datetime, end: datetime, calendar: Calendar | None, base: str = USD
) -> Iterator[bytes]:
    """The whole CSV file, step by step, in this thread."""
    export = CsvExport(engine, pairs, start, end, calendar, base=base)
    while chunks := export.step():
        yield from chunks


Step = Callable[[], list[bytes]]


async def csv_chunks(
    export: CsvExport, first: list[bytes], run: Callable[[Step], Awaitable[list[bytes]]]
) -> AsyncIterator[bytes]:
    """The file for an asyncio server: `first` (a step the caller took already), then every other step, each run by
    `run` in a worker thread.

    Memory is what a client that stops reading costs, so a page's chunks are let go as they are sent, and the next
    page is read while the last chunk of this one is being sent (the database and the client still work at the
    same time: a client that keeps up is sent that chunk and the kernel's buffer of the ones before it meanwhile).
    A stalled download so holds the rest of the page it is sending, or its last chunk and the next page."""
    pending = deque(first)
    del first  # the caller's list: kept, it would hold the first page for the whole download
    while pending:
        ahead: asyncio.Future[list[bytes]] | None = None
        try:
            while pending:
                chunk = pending.popleft()
                if not pending and not export.done:
                    ahead = asyncio.ensure_future(run(export.step))
                    ahead.add_done_callback(_settle)
                yield chunk
                del chunk  # sent: not kept while the next one waits for the client
        except BaseException:
            if ahead is not None:
                ahead.cancel()  # the client is gone: a step already running stops at its next checkpoint
            raise
        if ahead is not None:
            pending.extend(await ahead)


def _settle(task: asyncio.Future[list[bytes]]) -> None:
    """Mark a read-ahead's failure as seen: when the client has gone, nobody awaits it, and that is fine."""
    if not task.cancelled():
        task.exception()
