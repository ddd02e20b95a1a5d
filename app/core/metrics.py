"""Prometheus metrics (`GET /metrics`): polls, spans, the served quotes, and HTTP requests.

Metrics live in the process that records them. `fx-ticker serve --workers N` (N > 1) therefore starts its
workers with `PROMETHEUS_MULTIPROC_DIR` set (see app.cli), and a scrape of any worker adds up every worker's
counters and histograms: prometheus-client's multiprocess mode. With one worker (the poller, `make run`) the
ordinary in-memory registry is used. Poll metrics exist in the process that polls (role `all` or `poller`);
the served-quote gauges in every process, read from its in-memory snapshot at scrape time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

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

from app import __version__

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
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
RUNS_SKIPPED = Counter(
    "fx_poll_runs_skipped",
    "Scheduled polls of a source not started because its previous poll was still running",
    ["source"],
)
UNRECORDED = Gauge(
    "fx_polls_unrecorded",
    "Failed polls whose poll-log rows wait in the poller's memory: the database cannot take them now",
    ["source"],
    multiprocess_mode="livesum",
)
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

# What /rates/latest serves right now: (currency, when its quote was last seen, stale?) for each currency, read at
# scrape time from the process's snapshot (app.read.latest registers it; metrics import nothing of the service).
Served = Callable[[], Iterable[tuple[str, float, bool]]]
_served: Served | None = None


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
        served = _served
        if served is not None:
            for currency, last_seen, is_stale in served():
                seen.add_metric([currency], last_seen)
                stale.add_metric([currency], float(is_stale))
        yield seen
        yield stale


_LATEST_COLLECTOR = LatestQuotes()
if not multiprocess_mode():
    REGISTRY.register(_LATEST_COLLECTOR)


def started(role: str, served: Served) -> None:
    """Called by each process's lifespan: name the process, and say where its served quotes are read from."""
    global _served
    _served = served
    INFO.labels(__version__, role).set(1)
    for reason in ("timeout", "error", "busy"):
        DB_UNAVAILABLE.labels(reason)


def render() -> bytes:
    """The text exposition of this process, or of every worker of this server in multiprocess mode."""
    if not multiprocess_mode():
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(_LATEST_COLLECTOR)
    return generate_latest(registry)
