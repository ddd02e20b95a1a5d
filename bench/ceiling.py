"""Ceilings: the least work that gives an answer of the same kind, read through a bare DB-API cursor (no ORM, no
SQLAlchemy types, no HTTP), so that the app's figure can be read as a multiple of what the database alone costs on
this machine in the same run.

- Buckets: a GROUP BY day (UTC or a zone's) over the rollup rows the app reads, with the aggregates a bucket
  needs (extremes, sums of the time-weighted areas and of the time covered); for a cross rate whose legs change
  within every hour, also a GROUP BY day over the spans, which is what such a cross reads instead.
- Hourly buckets: the rollup rows of the range, as stored.
- Raw spans: the spans of the range, as stored.
- CSV export: the same rows the export sends (times formatted by the database, as the app has them), written by
  `csv.writer` with the derived inverse memoized per value as the app does.
"""

from __future__ import annotations

import csv
import decimal
import re
import time
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

from sqlalchemy import create_engine

_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how the app's DateTime type stores a UTC instant on SQLite
_INVERSE = decimal.Context(prec=15, rounding=decimal.ROUND_HALF_EVEN)


class Bare:
    """One DB-API connection to a store, and the ceilings' queries on it."""

    def __init__(self, database_url: str) -> None:
        self.engine = create_engine(database_url)
        self.sqlite = self.engine.dialect.name == "sqlite"
        self.conn: Any = self.engine.raw_connection()

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()

    def __enter__(self) -> Bare:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _sql(self, statement: str, params: dict[str, Any]) -> str:
        """The statement in the driver's parameter style: `:name` (sqlite3) or `%(name)s` (psycopg)."""
        if self.sqlite:
            return statement
        for name in params:
            statement = re.sub(rf":{name}\b", f"%({name})s", statement)
        return statement

    def _at(self, moment: datetime) -> Any:
        return moment.strftime(_SQLITE_TIME) if self.sqlite else moment

    def _stamp(self, column: str) -> str:
        """The time as the export writes it ('2026-02-23T10:00:00Z'), formatted by the database as the app has it."""
        if self.sqlite:
            return f"replace(replace({column}, ' ', 'T') || 'Z', '.000000Z', 'Z')"
        return f"""replace(to_char(timezone('UTC', {column}), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '.000000Z', 'Z')"""

    def rows(self, statement: str, params: dict[str, Any]) -> list[Any]:
        cursor = self.conn.cursor()
        try:
            cursor.execute(self._sql(statement, params), params)
            return list(cursor.fetchall())
        finally:
            cursor.close()
            self.conn.rollback()  # no transaction left open between queries (PostgreSQL)

    def _day(self, column: str, start: datetime, zone: tzinfo) -> str:
        """The day of `column` in `zone` (on SQLite, at the zone's offset at `start`: enough for a ceiling)."""
        if self.sqlite:
            offset = start.astimezone(zone).utcoffset()
            hours = int(offset.total_seconds() // 3600) if offset else 0
            return f"substr(datetime({column}, '{hours:+d} hours'), 1, 10)"
        return f"CAST({column} AT TIME ZONE '{zone}' AS date)"

    def days(self, currencies: list[str], source: str, start: datetime, end: datetime, zone: tzinfo) -> int:
        """Daily aggregates of the rollup rows of `currencies` in [start, end), days counted in `zone`."""
        area = "total(CAST(area AS REAL))" if self.sqlite else "sum(CAST(area AS numeric))"
        statement = (
            f"SELECT currency, {self._day('hour', start, zone)} AS day, count(*), min(first_seen), max(last_seen), "
            f"min(low_value), max(high_value), sum(covered), {area} FROM rate_rollup "
            f"WHERE currency IN ({_codes(currencies)}) AND source = :source AND hour >= :start AND hour < :end "
            "GROUP BY currency, day ORDER BY currency, day"
        )
        return len(self.rows(statement, {"source": source, "start": self._at(start), "end": self._at(end)}))

    def span_days(self, currencies: list[str], source: str, start: datetime, end: datetime, zone: tzinfo) -> int:
        """Daily aggregates of the spans of `currencies` beginning in [start, end), days counted in `zone`: what a
        cross of series that change within every hour reads, since no rollup row of theirs crosses whole."""
        statement = (
            f"SELECT currency, {self._day('first_seen', start, zone)} AS day, count(*), min(first_seen), "
            f"max(last_seen), min(value), max(value) FROM rate_span "
            f"WHERE currency IN ({_codes(currencies)}) AND source = :source AND first_seen >= :start "
            "AND first_seen < :end GROUP BY currency, day ORDER BY currency, day"
        )
        return len(self.rows(statement, {"source": source, "start": self._at(start), "end": self._at(end)}))

    def hours(self, currency: str, source: str, start: datetime, end: datetime) -> int:
        """The rollup rows of the series in [start, end)."""
        statement = (
            "SELECT hour, first_seen, first_value, low_value, high_value, last_value, last_seen, area, covered "
            "FROM rate_rollup WHERE currency = :currency AND source = :source AND hour >= :start AND hour < :end "
            "ORDER BY hour"
        )
        params = {"currency": currency, "source": source, "start": self._at(start), "end": self._at(end)}
        return len(self.rows(statement, params))

    def spans(self, currency: str, source: str, start: datetime, end: datetime) -> int:
        """The spans of the series beginning in [start, end]."""
        statement = (
            "SELECT first_seen, last_seen, value, per_usd, observations FROM rate_span "
            "WHERE currency = :currency AND source = :source AND first_seen >= :start AND first_seen <= :end "
            "ORDER BY first_seen"
        )
        params = {"currency": currency, "source": source, "start": self._at(start), "end": self._at(end)}
        return len(self.rows(statement, params))

    def csv(self, currency: str, source: str, start: datetime, end: datetime) -> tuple[int, float]:
        """Rows and rows/s of the raw CSV export of the series in [start, end], written by csv.writer."""
        since, until = (self._stamp(column) for column in ("first_seen", "last_seen"))
        params = {"currency": currency, "source": source, "start": self._at(start), "end": self._at(end)}
        statement = self._sql(
            f"SELECT {since}, {until}, value, per_usd FROM rate_span WHERE currency = :currency AND source = :source "
            "AND first_seen >= :start AND first_seen <= :end ORDER BY first_seen",
            params,
        )
        sink = _Sink()
        writer = csv.writer(sink)
        writer.writerow(("timestamp", "until", "currency", "pair", "rate", "inverse", "source"))
        pair = f"USD/{currency}"  # the app's market notation: units of the currency per dollar
        derived: dict[tuple[str, bool], tuple[str, str]] = {}
        rows = 0
        began = time.perf_counter()
        cursor = self.conn.cursor()
        try:
            cursor.execute(statement, params)
            while batch := cursor.fetchmany(5_000):
                for first, last, value, per_usd in batch:
                    key = (value, bool(per_usd))
                    both = derived.get(key)
                    if both is None:
                        other = str(_INVERSE.divide(1, Decimal(value)))
                        both = derived[key] = (value, other) if per_usd else (other, value)
                    writer.writerow((first, last, currency, pair, both[0], both[1], source))
                rows += len(batch)
        finally:
            cursor.close()
            self.conn.rollback()
        return rows, rows / (time.perf_counter() - began)


def _codes(currencies: list[str]) -> str:
    return ", ".join(f"'{code}'" for code in currencies)


class _Sink:
    """Where the ceiling's CSV goes: counted, not kept."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        return len(text)
