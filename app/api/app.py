"""create_app(): the lifespan owns the readers' engine and the latest-rates snapshot, and runs the poller where the
role polls (app.ingest.running)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from app import __version__
from app.api import aliases, dbaccess, errors, metricsport
from app.api.aliases import SymbolsAlias
from app.api.dbaccess import Database
from app.api.fastpath import LatestFastPath, StreamFastPath
from app.api.head import HeadAsGet
from app.api.httpmetrics import HTTPMetrics
from app.api.numbers import NumbersOption
from app.api.routes import (
    at,
    change,
    convert,
    currencies,
    daily,
    export,
    frankfurter,
    history,
    meta,
    ops,
    sources,
    stream,
)
from app.api.routes import latest as rates
from app.api.routes.web import install_pages
from app.api.security import SecurityHeaders
from app.api.stream import StreamHub
from app.api.version import V1, operation_id
from app.core import logs, metrics
from app.core.memory import GiveBackSoon
from app.core.settings import Settings
from app.ingest.running import polling
from app.read.latest import LatestService
from app.sources.registry import get_settings
from app.storage.engine import READ_PAGE_CACHE_KIB, describe, make_engine, trouble

log = logging.getLogger(__name__)

LOOP_SWITCH_SECONDS = 0.0005

DESCRIPTION = """
Intraday rates of the Kyrgyz som, Kazakh tenge, Tajik somoni, Uzbek sum and Turkmen manat against the
US dollar. Times are ISO 8601, written in UTC (the buckets of a `tz=` answer in that zone's offset); `rate` is
USD (or the `base=` currency) per one unit of the currency, `inverse` units per USD (or per one of the base).
Numbers are exact decimals, never written with an exponent. Every endpoint, with real answers: docs/api.md.

The data endpoints below are the stable contract, under `/v1`: their shapes only ever grow. The same endpoints
answer identically without the prefix (`/rates/latest`), as they always have. Errors are RFC 9457 problem
documents (`application/problem+json`); docs/api.md lists every `type`.
"""


async def _watch(service: LatestService, every: float) -> None:
    """Keep the snapshot in step with writes made by any process (the poller may be another one)."""
    away = False
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(service.refresh_if_changed)
        except Exception as exc:  # the database may be briefly away: keep serving the last snapshot
            reason = trouble(exc)
            if reason is None:
                log.warning("could not refresh the latest-rates snapshot", exc_info=True)
            elif not away:  # once per outage, not every few seconds of it
                log.warning("could not refresh the latest-rates snapshot: database unavailable: %s", reason)
            away = reason is not None
            continue
        if away:
            log.info("the latest-rates snapshot is refreshed again")
            away = False


def _readers(settings: Settings) -> Engine:
    """The API's engine: nothing in it waits for the database longer than FX_DB_TIMEOUT. Its pool holds a
    connection for each of the FX_DB_CONCURRENCY turns (app.api.dbaccess), plus two for the snapshot's reloads."""
    timeout = settings.db_timeout
    return make_engine(
        settings.database_url,
        connect_timeout=timeout,
        statement_timeout=timeout,
        pool_size=settings.db_concurrency,
        max_overflow=2,
        pool_timeout=timeout,
        page_cache_kib=READ_PAGE_CACHE_KIB,
    )


class PublicCORS:
    """CORS for a public read API: GET and HEAD from the origins allowed (any, by default), never with credentials,
    and never on /admin, whose answers carry no CORS header whatever the origin."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "HEAD"],
            allow_headers=["If-None-Match"],
            allow_credentials=False,
            expose_headers=["ETag"],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_origin(scope):  # not from a browser page: nothing to add (the hot
            await self.app(scope, receive, send)  # path's dashboards and clients), without parsing the headers
            return
        path: str = scope["path"]
        if path == "/admin" or path.startswith("/admin/"):
            await self.app(scope, receive, send)
            return
        await self.cors(scope, receive, send)


def _has_origin(scope: Scope) -> bool:
    return any(name == b"origin" for name, _ in scope["headers"])  # ASGI header names are lower case


def create_app(settings: Settings | None = None, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """The application. `transport` lets tests serve recorded upstream bytes instead of the internet."""
    settings = settings or get_settings()
    logs.configure(settings.log_level, settings.log_format)  # each uvicorn worker builds the app: once per process
    # The event loop shares the GIL with the database threads, which compute for seconds on a heavy query: by the
    # default 5 ms a turn, every callback and send of the loop waited that long behind them, and a burst's 503s
    # (due at FX_DB_QUEUE_TIMEOUT) went out seconds late. Half a millisecond keeps the loop on time for a
    # slightly higher switching cost, paid only while several threads want the GIL.
    sys.setswitchinterval(LOOP_SWITCH_SECONDS)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = _readers(settings)
        service = LatestService(engine, settings)
        try:
            await asyncio.to_thread(service.reload)
        except Exception as exc:  # the database is away or not migrated: start anyway, /ready says why
            log.warning("could not load the latest rates at start-up: %s", describe(exc))
        metrics.started(settings.role, service.served)
        # Everything built so far (modules, the app, the snapshot) lives as long as the process: keep it out of
        # the collector's full passes, which otherwise scan it all and show up as tens of milliseconds of
        # latency in the middle of large responses.
        gc.freeze()
        app.state.engine = engine
        app.state.database = Database(engine, settings)
        app.state.give_back = GiveBackSoon()
        app.state.settings = settings
        app.state.latest = service
        app.state.stream = hub = StreamHub(service, settings.stream_heartbeat)
        hub.start()
        watcher = asyncio.create_task(_watch(service, settings.refresh_seconds))
        scrapes = metricsport.start(settings.metrics_host, settings.metrics_port)
        polls = contextlib.AsyncExitStack()  # a role that polls: the poller runs as long as the app

        async def reload() -> None:
            await asyncio.to_thread(service.reload)

        try:  # what was started is stopped, also when starting the poller fails
            if settings.role in ("all", "poller"):
                app.state.poller = await polls.enter_async_context(polling(settings, reload, transport))
            yield
        finally:
            hub.close()
            if scrapes is not None:
                scrapes.close()
            await polls.aclose()  # the poll in flight finishes or rolls back, then the poller lets go
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            app.state.database.close()
            engine.dispose()

    # /docs is served from the package (app.api.routes.web), not from FastAPI's CDN; ReDoc would need one too.
    app = FastAPI(
        title="fx-ticker",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    errors.install(app)
    aliases.document(app)
    dbaccess.install(app)
    app.add_middleware(SecurityHeaders)  # inside the fast paths, which send the same headers themselves
    app.add_middleware(LatestFastPath, state=app.state)
    app.add_middleware(StreamFastPath, state=app.state)
    app.add_middleware(SymbolsAlias)  # `symbols=` read as `currencies=`, before the fast paths look at the query
    app.add_middleware(NumbersOption)  # `numbers=string`: decimals written as strings, the fast paths' too
    app.add_middleware(errors.Unexpected)  # a bug is a JSON 500 too, with the security headers, not a cut connection
    if settings.cors_origins:  # outside the fast path, so that its answers carry the CORS headers too
        app.add_middleware(PublicCORS, origins=settings.cors_origins)
    app.add_middleware(HeadAsGet)  # HEAD is routed as GET everywhere, the fast paths included
    app.add_middleware(HTTPMetrics)  # outermost: counts the fast path's answers too
    # The data endpoints: under /v1, the stable contract the OpenAPI document describes (its shapes only grow),
    # and at the unversioned paths the service has always answered, identically but left out of the document.
    data = (
        rates.router,
        stream.router,
        at.router,
        daily.router,
        sources.router,
        currencies.router,
        history.router,
        change.router,
        export.router,
        convert.router,
    )
    for router in data:
        app.include_router(router, prefix=V1)
    for router in data:
        app.include_router(router, include_in_schema=False)
    # Frankfurter's own paths, versioned by Frankfurter (/frankfurter/v1, /frankfurter/v2).
    app.include_router(frankfurter.v1)
    app.include_router(frankfurter.v2)
    # Operations stay at the root only: /health, /ready, /metrics, /admin/poll.
    app.include_router(meta.router)
    app.include_router(ops.router)
    if settings.metrics_port == 0:  # otherwise /metrics is on a port of its own (app.api.metricsport)
        app.include_router(ops.public_metrics)
    if settings.admin_token is not None:  # otherwise POST /admin/poll does not exist (404)
        app.include_router(ops.admin)
    install_pages(app)  # the dashboard, the widget and their static files
    return app
