"""Stores at production size for the benchmarks: years of per-minute history for every currency, written by the
database itself (INSERT ... SELECT over a series of minutes), so that a year takes seconds and ten years minutes.

What a store holds for each minute of its history (ending at END, a fixed instant, so that a generated SQLite
file can be cached and reused between runs):

- a ticker span for each of the five currencies, with a new value every minute (nothing collapses);
- the ticker's poll-log row (one in 97 an error, one in 1,009 partial with a rejection);
- every 30 minutes a poll-log row of each bank and of ExchangeRate-API, every hour an ExchangeRate-API span of
  each currency, every day a span of each bank (its currency) and two flags.

Then the rollups (of each series and of each pair), recomputed by the app (app.ingest.rollup, app.ingest.pairs),
and the per-source counts of source_state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

END = datetime(2026, 1, 1, tzinfo=UTC)
MINUTES_IN_YEAR = 525_600
# The digits before the six that change every minute: values near each currency's real rate (USD per unit).
TICKER = {"KGS": "0.0114", "KZT": "0.0020", "TJS": "0.1056", "UZS": "0.00008", "TMT": "0.2857"}
# Each bank's currency and the whole part of its rate in units per USD.
BANKS = {"nbk": ("KZT", 480), "nbkr": ("KGS", 87), "nbt": ("TJS", 9), "cbu": ("UZS", 12500), "cbt": ("TMT", 3)}
ERAPI = {"KGS": 87, "KZT": 480, "TJS": 9, "UZS": 12500, "TMT": 3}
TABLES = ("rate_span", "rate_rollup", "rate_rollup_day", "rate_pair_rollup", "rate_pair_rollup_day", "poll_log",
          "quote_flag", "source_state")  # fmt: skip


@dataclass(frozen=True)
class _Dialect:
    """The SQL that differs: the series of minute numbers i (counting back from END), the time of minute i, and
    a number written with six digits."""

    minutes: str
    moment: str
    six: str


_SQLITE = _Dialect(
    minutes="WITH RECURSIVE m(i) AS (SELECT :top UNION ALL SELECT i - :step FROM m WHERE i - :step >= :first) ",
    # The text the app's DateTime type writes on SQLite: UTC, microseconds, no offset.
    moment="strftime('%Y-%m-%d %H:%M:%S.000000', :end, printf('%+d minutes', -({i} + 1)))",
    six="printf('%06d', {x})",
)
_POSTGRES = _Dialect(
    minutes="",
    moment="CAST(:end AS timestamptz) - ({i} + 1) * interval '1 minute'",
    six="lpad(CAST({x} AS text), 6, '0')",
)


def _dialect(conn: Connection) -> _Dialect:
    return _SQLITE if conn.dialect.name == "sqlite" else _POSTGRES


def _insert(conn: Connection, table: str, columns: str, select: str, first: int, last: int, step: int) -> None:
    """INSERT INTO table (columns) SELECT ... for the minutes i in [first, last) that end a `step` (i % step ==
    step - 1, so that a row covering the step ends by END), oldest first: the order of the indexes, so that each
    insert appends to them."""
    d = _dialect(conn)
    first += (step - 1 - first) % step
    if first >= last:
        return
    top = first + (last - 1 - first) // step * step
    if d is _SQLITE:
        statement = f"{d.minutes}INSERT INTO {table} ({columns}) {select.format(i='i')} FROM m"
    else:
        statement = (
            f"INSERT INTO {table} ({columns}) {select.format(i='m.i')} "
            "FROM generate_series(CAST(:top AS bigint), :first, -CAST(:step AS bigint)) AS m(i)"
        )
    end: Any = END.strftime("%Y-%m-%d %H:%M:%S") if d is _SQLITE else END
    conn.execute(text(statement), {"top": top, "first": first, "step": step, "end": end})


_SPAN = "currency, source, value, per_usd, first_seen, last_seen, observations, effective_date"
_LOG = "source, started_at, finished_at, outcome, poller, error, entries_seen, spans_opened, spans_extended, rejections"
_FLAG = "source, currency, raised_at, kind, detail"
_CONFLICT = "KGS from ticker: conflicting values in one snapshot (0.01144, 0.0115)"


def fill(conn: Connection, first: int, last: int) -> None:
    """The history of minutes [first, last) before END (minute 0 ends at END)."""
    d = _dialect(conn)
    at = d.moment.format(i="{i}")

    def spans(select: str, step: int) -> None:
        _insert(conn, "rate_span", _SPAN, select, first, last, step)

    for currency, prefix in TICKER.items():
        # Every minute a new value: 7919 is prime to 100003, so consecutive minutes never repeat one.
        value = f"'{prefix}' || " + d.six.format(x="200000 + ({i} * 7919) % 100003")
        spans(f"SELECT '{currency}', 'ticker', {value}, false, {at}, {at}, 1, NULL", 1)
    decimals = d.six.format(x="({i} * 7919) % 1000003 % 1000000")
    for currency, whole in ERAPI.items():
        until = d.moment.format(i="{i} - 59")
        spans(f"SELECT '{currency}', 'erapi', '{whole}.' || {decimals}, true, {at}, {until}, 60, NULL", 60)
    for bank, (currency, whole) in BANKS.items():
        until = d.moment.format(i="{i} - 1410")
        day = f"CAST({at} AS date)" if d is _POSTGRES else f"substr({at}, 1, 10)"
        spans(f"SELECT '{currency}', '{bank}', '{whole}.' || {decimals}, true, {at}, {until}, 48, {day}", 1440)
    failed, partial = "{i} % 97 = 0", "{i} % 1009 = 0"
    outcome = f"CASE WHEN {failed} THEN 'error' WHEN {partial} THEN 'partial' ELSE 'ok' END"
    error = f"CASE WHEN {failed} THEN 'HTTP 502 from the upstream' END"
    rejections = f"CASE WHEN {partial} THEN '{_CONFLICT}' END"
    logged = f"{at}, {at}, {outcome}, 'bench:1', {error}"
    _insert(conn, "poll_log", _LOG, f"SELECT 'ticker', {logged}, 40, 0, 5, {rejections}", first, last, 1)
    for source in (*BANKS, "erapi"):
        _insert(conn, "poll_log", _LOG, f"SELECT '{source}', {logged}, 1, 0, 1, NULL", first, last, 30)
    for source, kind, detail in (("ticker", "spread", "differs 3.91% from nbk"), ("nbk", "jump", "moved 5.2%")):
        _insert(conn, "quote_flag", _FLAG, f"SELECT '{source}', 'KZT', {at}, '{kind}', '{detail}'", first, last, 1440)


def spans_in(minutes: int) -> int:
    """How many spans `minutes` of history hold (the figure the benchmark reports)."""
    return len(TICKER) * minutes + len(ERAPI) * -(-minutes // 60) + len(BANKS) * -(-minutes // 1440)


def analyze(engine: Engine) -> None:
    """PostgreSQL's planner statistics, as autovacuum would have gathered them in a store that grew to this size.
    (SQLite gets none: the app never runs ANALYZE there, so neither does the benchmark.) Only this schema's
    tables: a bare ANALYZE would visit every schema of the database."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text(f"ANALYZE {', '.join(TABLES)}"))
