"""The in-memory answer of `/rates/latest`, rebuilt when the data changes, never per request.

Dashboards poll this endpoint all day, so a request only looks up bytes that were rendered when the
data last changed: the JSON body and its ETag are computed once per (data version, currency subset).
Processes that do not poll (role `api`) watch a one-row change counter that every write bumps, and
reload when it moves; a reload is a handful of indexed one-row queries.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from time import time as wall_clock
from typing import Any

from sqlalchemy import Connection, Engine
from sqlmodel import Session

from app.core.clock import utcnow
from app.core.jsonenc import dumps, iso, numbers_key
from app.core.settings import Settings
from app.domain.cross import Cross
from app.domain.freshness import State
from app.domain.values import DOLLAR, USD, Value, percent_change
from app.read.inforce import choose, last_sighting, order_of, stated_at
from app.read.query import Latest, data_version, latest_of
from app.sources.registry import SOURCES, cadence, cross_method, home_currency, prefer_usd_quotes, served_sources
from app.storage.engine import read_session

MAX_REMEMBERED_QUERIES = 256


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    etag: str
    version: int  # the data version of the snapshot it was rendered from


@dataclass(slots=True)
class Snapshot:
    version: int
    rows: dict[str, tuple[Latest, bool]]  # currency -> (best quote, stale?)
    # currency -> every source's current value, in order of preference, each with its staleness
    by_source: dict[str, list[tuple[Latest, bool]]]
    # Wall-clock seconds: when a rate's staleness flips (forcing a rebuild) and when new data is expected.
    recheck_at: float
    next_poll_at: float
    rendered: dict[tuple[tuple[str, ...], str | None, str, str], Rendered] = field(default_factory=dict)
    # Raw query string -> answer, for the ASGI fast path (app.api.fastpath); filled by the validated route.
    by_query: dict[bytes, Rendered] = field(default_factory=dict)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


_ONE = Decimal(1)
Picked = tuple[Latest, bool]  # a quote, and whether it is stale
Legs = tuple[Picked, Picked]  # a cross's quote and base, of one source


def _rate_json(row: Latest, stale: bool) -> dict[str, Any]:
    """A currency in base USD: `rate` is units of it per one USD, `inverse` USD per one unit of it."""
    return {
        "currency": row.currency,
        "pair": f"{USD}/{row.currency}",
        "rate": row.per_base,
        "inverse": row.in_base,
        "source": row.source,
        "since": row.first_seen,
        "last_seen": row.last_seen,
        "effective_date": row.effective_date,
        "previous_rate": row.previous_per_base,
        "change_pct": row.per_base_change_pct,
        "source_change_pct": row.reported_change_pct,
        "stale": stale,
    }


def _itself_json(currency: str) -> dict[str, Any]:
    """The base asked for in itself: one unit of it is one unit of it, at all times, from no source."""
    return {
        "currency": currency,
        "pair": f"{currency}/{currency}",
        "rate": _ONE,
        "inverse": _ONE,
        "source": None,
        "since": None,
        "last_seen": None,
        "effective_date": None,
        "previous_rate": None,
        "change_pct": None,
        "source_change_pct": None,
        "stale": False,
    }


def _leg_json(row: Latest, stale: bool) -> dict[str, Any]:
    """A leg of a cross: its own rate against USD, as in base USD (units of the leg's currency per one USD)."""
    return {
        "source": row.source,
        "rate": row.per_base,
        "value": row.value.text,
        "effective_date": row.effective_date,
        "since": row.first_seen,
        "last_seen": row.last_seen,
        "stale": stale,
    }


def _previous(quote: Latest | None, base: Latest) -> Value | Cross | None:
    """The cross before its last move: whichever leg moved last (or both, at once) at its previous value."""
    if quote is None:  # USD
        return Cross(DOLLAR, base.previous) if base.previous is not None else None
    quote_moved, base_moved = quote.first_seen >= base.first_seen, base.first_seen >= quote.first_seen
    before_quote = quote.previous if quote_moved else quote.value
    before_base = base.previous if base_moved else base.value
    if before_quote is None or before_base is None:
        return None
    return Cross(before_quote, before_base)


def _cross_json(currency: str, quote: Picked | None, base_code: str, base: Picked) -> dict[str, Any]:
    """`currency` (None quote: USD) in units of the base: `rate` is units of it per one unit of the base; the two
    legs in force, and which source each came from."""
    base_row, base_stale = base
    row, stale = quote if quote is not None else (None, False)
    level = Cross(row.value if row is not None else DOLLAR, base_row.value)
    previous = _previous(row, base_row)
    legs = {currency: _leg_json(row, stale)} if row is not None else {}
    legs[base_code] = _leg_json(base_row, base_stale)
    return {
        "currency": currency,
        "pair": f"{base_code}/{currency}",
        "rate": level.per_base,
        "inverse": level.in_base,
        "source": row.source if row is not None else None,
        "since": max(base_row.first_seen, row.first_seen) if row is not None else base_row.first_seen,
        "last_seen": min(base_row.last_seen, row.last_seen) if row is not None else base_row.last_seen,
        "effective_date": None,
        "previous_rate": previous.per_base if previous is not None else None,
        "change_pct": (percent_change(previous.per_base_key(), level.per_base_key()) if previous is not None else None),
        "source_change_pct": None,
        "stale": stale or base_stale,
        "method": cross_method(
            currency,
            row.source if row is not None else None,
            base_code,
            base_row.source,
            row is not None and row.effective_date is not None and row.effective_date == base_row.effective_date,
        ),
        "legs": legs,
    }


def official_crosses(by_source: Mapping[str, Sequence[Picked]], codes: Sequence[str], base: str) -> dict[str, Legs]:
    """For each of `codes`, a bank's own cross with `base` when one source has both, fresh and fixed for one date,
    one of them its own currency (NBKR's som per tenge): the rate a customs declaration must use, which a cross of
    the two best legs through the dollar is not. The base's own bank first (it prices every currency in the base:
    NBKR for base KGS), then the currency's, each in order of preference."""
    base_rows = {row.source: (row, stale) for row, stale in by_source.get(base, ())}
    found: dict[str, Legs] = {}
    for code in codes:
        candidates = sorted(by_source.get(code, ()), key=lambda pair: home_currency(pair[0].source) != base)
        for row, stale in candidates:
            other = base_rows.get(row.source)
            if stale or other is None or other[1] or row.effective_date is None:
                continue
            if row.effective_date == other[0].effective_date and home_currency(row.source) in (code, base):
                found[code] = ((row, stale), other)
                break
    return found


def rates_document(
    picked: Mapping[str, Picked], wanted: Sequence[str], base: str, direct: Mapping[str, Legs] | None = None
) -> dict[str, Any]:
    """The body of /rates/latest (and of /rates/at): the `wanted` currencies that have a quote, in units of
    `base`. In any other base than USD each rate is the cross of two quotes, so the base needs one too; `direct`
    names the codes a bank's own cross answers instead (official_crosses). The base itself, when asked for, is 1."""
    direct = direct or {}
    rows: list[Picked] = []
    rates: list[dict[str, Any]] = []
    if base == USD:
        for code in wanted:
            if code == base:
                rates.append(_itself_json(code))
            elif (pair := picked.get(code)) is not None:
                rows.append(pair)
                rates.append(_rate_json(*pair))
    else:
        base_pair = picked.get(base)
        others = [c for c in wanted if c != base and base_pair is not None and (c == USD or c in picked)]
        rows = [base_pair] if base_pair is not None and others else []
        rows += [picked[c] for c in others if c != USD]
        rows += [leg for c in others if c in direct for leg in direct[c]]
        for code in wanted:
            if code == base:
                rates.append(_itself_json(code))
            elif code in direct:
                rates.append(_cross_json(code, direct[code][0], base, direct[code][1]))
            elif code in others and base_pair is not None:
                rates.append(_cross_json(code, picked.get(code), base, base_pair))
    as_of = max((row.last_seen for row, _ in rows), default=None)
    document: dict[str, Any] = {"base": base, "as_of": iso(as_of) if as_of else None, "rates": rates}
    credits = sorted({c for row, _ in rows if (c := SOURCES[row.source].attribution)})
    if credits:
        document["attribution"] = credits
    return document


def pick(found: Sequence[Latest], at: datetime, settings: Settings) -> Picked | None:
    """What /rates/latest serves at `at` from `found` (in order of preference): the value in force by the one rule
    (app.read.inforce.choose); if none is, the first one, flagged stale (the latest is the last known)."""
    chosen = choose(settings, [(row.source, row) for row in found], at)
    if chosen is not None:
        index, state = chosen
        return found[index], state is State.STALE
    return (found[0], True) if found else None


def wanted_codes(settings: Settings, currencies: tuple[str, ...], base: str) -> list[str]:
    """The currencies of an answer in `base`, in order: the base itself first when `currencies` names it (it is
    1), then USD in another base, then the configured ones but the base (`currencies`: only those; empty: all)."""
    every = [USD, *settings.currencies] if base != USD else list(settings.currencies)
    itself = [base] if base in currencies else []
    return itself + [c for c in every if c != base and (not currencies or c in currencies)]


def rates_at(
    session: Session, settings: Settings, at: datetime, currencies: tuple[str, ...], source: str | None, base: str
) -> dict[str, Any]:
    """The body of /rates/at: each currency's value in force at `at` (app.read.inforce: the best source as of `at`
    unless one is named, stale when it was then), as known then; a currency with nothing in force is left out."""
    order = order_of(settings, source)
    found = latest_of(session, [(c, s) for c in settings.currencies for s in order], at)
    conn = session.connection()
    picked = {}
    for currency in settings.currencies:
        rows = [row for s in prefer_usd_quotes(order, currency) if (row := found.get((currency, s))) is not None]
        chosen = choose(settings, [(row.source, row) for row in rows], at)
        if chosen is not None:
            index, state = chosen
            picked[currency] = _as_known(conn, settings, rows[index], at), state is State.STALE
    return {"at": iso(at), **rates_document(picked, wanted_codes(settings, currencies, base), base)}


def _as_known(conn: Connection, settings: Settings, row: Latest, at: datetime) -> Latest:
    """A value as it stood at `at`: last seen at its last sighting then, stated for no later day (app.read.inforce)."""
    interval = cadence(settings, row.source).interval
    seen = last_sighting(conn, row.source, row.first_seen, row.last_seen, at, interval)
    return replace(row, last_seen=seen, effective_date=stated_at(row.source, row.effective_date, at))


class LatestService:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._reloading = threading.Lock()
        self._listeners: list[Callable[[], object]] = []
        self.snapshot = Snapshot(version=-1, rows={}, by_source={}, recheck_at=0.0, next_poll_at=0.0)

    def stale_at(self, row: Latest) -> datetime:
        """When `row` turns stale, by the freshness rule of its source (app.domain.freshness)."""
        return cadence(self.settings, row.source).stale_at(row)

    def build(self) -> Snapshot:
        now = utcnow()
        order = served_sources(self.settings)  # a cross-check only source is never in an answer
        with read_session(self.engine) as session:
            version = data_version(session)
            current = latest_of(session, [(c, source) for c in self.settings.currencies for source in order])
        found = {
            currency: [row for source in prefer_usd_quotes(order, currency) if (row := current.get((currency, source)))]
            for currency in self.settings.currencies
        }
        rows = {c: best for c in self.settings.currencies if (best := pick(found[c], now, self.settings)) is not None}
        # The snapshot must be rebuilt when any quote we hold (served or passed over) turns stale.
        flips = [
            self.stale_at(row).timestamp() for rows_ in found.values() for row in rows_ if now < self.stale_at(row)
        ]
        polls = [row.last_seen.timestamp() + self.settings.source_interval(row.source) for row, _ in rows.values()]
        by_source = {c: [(row, now >= self.stale_at(row)) for row in found[c]] for c in found}
        return Snapshot(
            version=version,
            rows=rows,
            by_source=by_source,
            recheck_at=min(flips, default=float("inf")),
            next_poll_at=min(polls, default=0.0),
        )

    def reload(self) -> None:
        """Build and publish a new snapshot. The watcher and the poller may both reload at once: builds take
        turns, and a build never replaces a snapshot of newer data than its own."""
        with self._reloading:
            snapshot = self.build()
            if snapshot.version >= self.snapshot.version:
                self.snapshot = snapshot
        for listener in self._listeners:
            listener()

    def on_publish(self, listener: Callable[[], object]) -> None:
        """Call `listener` (from whichever thread reloaded) after every reload: the snapshot may have changed."""
        self._listeners.append(listener)

    def current_version(self) -> int:
        with read_session(self.engine) as session:
            return data_version(session)

    def refresh_if_changed(self) -> bool:
        """Reload when the change counter moved or a staleness flag is due; cheap when nothing happened."""
        if self.current_version() != self.snapshot.version or wall_clock() >= self.snapshot.recheck_at:
            self.reload()
            return True
        return False

    @staticmethod
    def _pick(snapshot: Snapshot, currency: str, source: str | None) -> tuple[Latest, bool] | None:
        if source is None:
            return snapshot.rows.get(currency)
        return next((pair for pair in snapshot.by_source.get(currency, []) if pair[0].source == source), None)

    def render(
        self,
        currencies: tuple[str, ...],
        source: str | None = None,
        query_string: bytes | None = None,
        base: str = USD,
    ) -> Rendered:
        """The body for a subset of currencies (empty = all) from the best or the named source, in units of
        `base`, rendered once per snapshot. With `query_string`, the fast path may answer that exact query
        from now until the data changes (bounded: query strings are the client's to vary)."""
        snapshot = self.snapshot  # one snapshot throughout: a reload may replace it meanwhile
        rendered = self._render(snapshot, currencies, source, base)
        if query_string is not None and len(snapshot.by_query) < MAX_REMEMBERED_QUERIES:
            snapshot.by_query[query_string] = rendered
        return rendered

    def _render(self, snapshot: Snapshot, currencies: tuple[str, ...], source: str | None, base: str) -> Rendered:
        key = (currencies, source, base, numbers_key())
        cached = snapshot.rendered.get(key)
        if cached is not None:
            return cached
        picked = {c: pair for c in self.settings.currencies if (pair := self._pick(snapshot, c, source)) is not None}
        wanted = wanted_codes(self.settings, currencies, base)
        direct = official_crosses(snapshot.by_source, wanted, base) if source is None and base != USD else None
        body = dumps(rates_document(picked, wanted, base, direct))
        rendered = Rendered(body, etag_of(body), snapshot.version)
        snapshot.rendered[key] = rendered
        return rendered

    def _quotes(self, snapshot: Snapshot, currencies: tuple[str, ...], source: str | None) -> list[tuple[Latest, bool]]:
        wanted = [c for c in self.settings.currencies if not currencies or c in currencies]
        return [pair for c in wanted if (pair := self._pick(snapshot, c, source)) is not None]

    def quotes(self, currencies: tuple[str, ...], source: str | None = None) -> list[tuple[Latest, bool]]:
        """(quote, stale?) of each currency asked for (empty = all), in configured order, as /rates/latest has them."""
        return self._quotes(self.snapshot, currencies, source)

    def served(self) -> list[tuple[str, float, bool]]:
        """(currency, when its quote was last seen, stale?) of what /rates/latest serves now: for the metrics."""
        return [(c, row.last_seen.timestamp(), stale) for c, (row, stale) in self.snapshot.rows.items()]

    def answered(self, query_string: bytes) -> Rendered | None:
        return self.snapshot.by_query.get(query_string)

    def best_source(self, currency: str) -> str | None:
        """The source /rates/latest currently takes `currency` from (None before any data)."""
        best = self.snapshot.rows.get(currency)
        return best[0].source if best is not None else None

    def max_age(self) -> int:
        """Seconds a client may cache: never past the moment the next poll is expected."""
        return max(0, int(self.snapshot.next_poll_at - wall_clock()))
