"""Prometheus metrics (`GET /metrics`): polls, spans, the served quotes, and HTTP requests.

Metrics live in the process that records them. `fx-ticker serve --workers N` (N > 1) therefore starts its
workers with `PROMETHEUS_MULTIPROC_DIR` set (see app.cli), and a scrape of any worker adds up every worker's
counters and histograms: prometheus-client's multiprocess mode. With one worker (the poller, `make run`) the
ordinary in-memory registry is used. Poll metrics exist in the process that polls (role `all` or `poller`);
the served-quote gauges in every process, read from its in-memory snapshot at scrape time.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlmodel import col, select

from app import __version__
from app.ingest.pipeline import Outcome
from app.read.latest import LatestService
from app.storage.engine import read_session
from app.storage.models import SUCCESS_OUTCOMES, SourceState

log = logging.getLogger(__name__)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
OUTCOMES = ("ok", "partial", "unchanged", "rejected", "error")
# /rates/latest answers in well under a millisecond; exports and history queries take longer.
HTTP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)

HTTP_REQUESTS = Counter(
    "fx_http_requests", "HTTP requests answered, by route template, method and status", ["route", "method", "status"]
)
HTTP_SECONDS = Histogram(
    "fx_http_request_duration_seconds", "Time to answer an HTTP request, by route template", ["route"],
    buckets=HTTP_BUCKETS,
)  # fmt: skip
POLLS = Counter(
    "fx_polls", "Polls of a source, by outcome (ok, partial, unchanged, rejected, error)", ["source", "outcome"]
)
POLL_SECONDS = Histogram(
    "fx_poll_duration_seconds", "Time a poll took: fetch, parse and store", ["source"], buckets=POLL_BUCKETS
)
LAST_SUCCESS = Gauge(
    "fx_poll_last_success_timestamp_seconds", "When the source last polled successfully (Unix time)", ["source"],
    multiprocess_mode="max",
)  # fmt: skip
SPANS_OPENED = Counter("fx_spans_opened", "Spans opened by polls (a new or changed rate)", ["source"])
SPANS_EXTENDED = Counter("fx_spans_extended", "Spans extended by polls (the same rate seen again)", ["source"])
ROWS = Gauge(
    "fx_rate_spans", "Rows stored in rate_span, by source (after the latest poll)", ["source"],
    multiprocess_mode="mostrecent",
)  # fmt: skip
STREAMS = Gauge("fx_stream_clients", "Open /rates/stream connections (Server-Sent Events)", multiprocess_mode="livesum")
DB_UNAVAILABLE = Counter(
    "fx_db_unavailable",
    "Requests answered 503 for the database: timeout (no answer within FX_DB_TIMEOUT), error (refused, lost, "
    "cancelled), busy (no turn free within FX_DB_QUEUE_TIMEOUT)",
    ["reason"],
)
QUERY_CACHE = Counter(
    "fx_query_cache",
    "Query answers (history, /currencies) served from this process's rendered bodies, or rendered",
    ["result"],
)
INFO = Gauge("fx_info", "This process: version and FX_ROLE", ["version", "role"], multiprocess_mode="max")

_latest: LatestService | None = None


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROCESS_ENV))


class LatestQuotes(Collector):
    """What /rates/latest serves right now, read at scrape time from this process's snapshot (no database)."""

    def collect(self) -> Iterator[Metric]:
        seen = GaugeMetricFamily(
            "fx_latest_quote_timestamp_seconds",
            "When the quote /rates/latest serves for the currency was last seen (Unix time)",
            labels=["currency"],
        )
        stale = GaugeMetricFamily(
            "fx_latest_quote_stale", "1 when the quote served for the currency is stale", labels=["currency"]
        )
        service = _latest
        if service is not None:
            for currency, (row, is_stale) in service.snapshot.rows.items():
                seen.add_metric([currency], row.last_seen.timestamp())
                stale.add_metric([currency], float(is_stale))
        yield seen
        yield stale


_LATEST_COLLECTOR = LatestQuotes()
if not multiprocess_mode():
    REGISTRY.register(_LATEST_COLLECTOR)


def started(role: str, sources: Iterable[str], latest: LatestService) -> None:
    """Called by each process's lifespan: name the process, and create every poll series at zero."""
    global _latest
    _latest = latest
    INFO.labels(__version__, role).set(1)
    for reason in ("timeout", "error", "busy"):
        DB_UNAVAILABLE.labels(reason)
    if role == "api":
        return
    for source in sources:
        for outcome in OUTCOMES:
            POLLS.labels(source, outcome)
        POLL_SECONDS.labels(source)
        SPANS_OPENED.labels(source)
        SPANS_EXTENDED.labels(source)


def seed(engine: Engine, sources: Sequence[str]) -> None:
    """A polling process starts with what the database knows: each source's last success and its rows, as the
    store keeps them in source_state (one row per source: nothing is counted)."""
    try:
        with read_session(engine) as session:
            rows = session.exec(select(SourceState).where(col(SourceState.source).in_(sources)))
            states = {state.source: state for state in rows}
    except Exception:  # metrics must never stop the service
        log.warning("could not read the source state for the metrics", exc_info=True)
        return
    for source in sources:
        state = states.get(source)
        if state is not None and state.last_success_at is not None:
            LAST_SUCCESS.labels(source).set(state.last_success_at.timestamp())
        ROWS.labels(source).set(state.spans_stored if state is not None else 0)


def observe_poll(engine: Engine, outcome: Outcome, seconds: float, *, count_rows: bool = True) -> None:
    """Everything a finished poll tells: called by the poller (in a worker thread: it reads the source's row,
    unless `count_rows` is False because the database is away)."""
    source = outcome.source
    POLLS.labels(source, outcome.status).inc()
    POLL_SECONDS.labels(source).observe(seconds)
    if outcome.result is not None:
        SPANS_OPENED.labels(source).inc(outcome.result.opened)
        SPANS_EXTENDED.labels(source).inc(outcome.result.extended)
    if outcome.status in SUCCESS_OUTCOMES:
        LAST_SUCCESS.labels(source).set(time.time())
    if not count_rows:
        return
    try:
        with read_session(engine) as session:
            state = session.get(SourceState, source)
        ROWS.labels(source).set(state.spans_stored if state is not None else 0)
    except Exception:
        log.warning("could not count the stored spans of %s for the metrics", source, exc_info=True)


def render() -> bytes:
    """The text exposition of this process, or of every worker of this server in multiprocess mode."""
    if not multiprocess_mode():
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(_LATEST_COLLECTOR)
    return generate_latest(registry)
