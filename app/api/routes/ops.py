"""Operations endpoints: readiness, Prometheus metrics, and the admin call that triggers a poll."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.api import problems
from app.api.deps import poller_views
from app.api.problems import ADMIN_TOKEN_REQUIRED, ADMIN_TOKEN_WRONG, NOT_POLLING, UNKNOWN_SOURCE, Problem
from app.core import metrics
from app.core.settings import Settings
from app.ingest.pipeline import Outcome
from app.ingest.poller import Poller
from app.read.readiness import readiness

router = APIRouter(tags=["service"])
admin = APIRouter(tags=["admin"])
# When to ask again after a poll found the database away: the scheduled polls keep trying meanwhile.
RETRY_AFTER_SECONDS = 30


@router.get(
    "/ready",
    summary="Readiness: 200 when the database answers, its schema is current and a source is fresh; 503 otherwise",
    responses={503: {"description": "Not ready; `reason` names the first failing check"}},
)
async def ready(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    # The poller's view in the event loop; the probe, which waits on the database, in a worker thread.
    state = await run_in_threadpool(readiness, settings, views=poller_views(request))
    return JSONResponse(state.json(), status_code=200 if state.ready else 503, headers={"Cache-Control": "no-store"})


# On the public port only with FX_METRICS_PORT=0; otherwise on a port of its own (app.api.metricsport).
public_metrics = APIRouter(tags=["service"])


@public_metrics.get("/metrics", summary="Prometheus metrics (text exposition format)", response_class=Response)
def prometheus() -> Response:
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)


def _authorized(request: Request) -> None:
    """`Authorization: Bearer <FX_ADMIN_TOKEN>`: 401 without credentials, 403 with the wrong ones."""
    settings: Settings = request.app.state.settings
    expected = settings.admin_token.get_secret_value() if settings.admin_token is not None else ""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Problem(
            ADMIN_TOKEN_REQUIRED,
            "an admin token is required: Authorization: Bearer <FX_ADMIN_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not expected or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise Problem(ADMIN_TOKEN_WRONG, "wrong admin token")


def _outcome(outcome: Outcome) -> dict[str, Any]:
    result = outcome.result
    return {
        "source": outcome.source,
        "outcome": outcome.status,
        "ok": outcome.ok,
        "entries": result.entries_seen if result is not None else 0,
        "spans_opened": result.opened if result is not None else 0,
        "spans_extended": result.extended if result is not None else 0,
        "error": outcome.error,
        "summary": outcome.summary(),
    }


@admin.post(
    "/admin/poll",
    summary="Poll every enabled source (or one) now; needs FX_ADMIN_TOKEN as a bearer token",
    dependencies=[Depends(_authorized)],
    responses={
        401: {"description": "No bearer token"},
        403: {"description": "Wrong bearer token"},
        409: {"description": "This process does not poll (FX_ROLE=api, or another holds the lock)"},
        503: {"description": "The database is unreachable: the polls failed; `outcomes` says how, retry later"},
    },
)
async def poll_now(
    request: Request,
    source: Annotated[str | None, Query(description="Poll only this source (default: every enabled one)")] = None,
) -> Any:
    settings: Settings = request.app.state.settings
    poller: Poller | None = getattr(request.app.state, "poller", None)
    if poller is None:
        raise Problem(
            NOT_POLLING,
            f"this process does not poll (FX_ROLE={settings.role}): polls run in the poller process; call it there",
        )
    if source is not None and source not in settings.sources:
        raise Problem(
            UNKNOWN_SOURCE, f"unknown or disabled source {source!r}; enabled: {', '.join(settings.sources)}", "source"
        )
    outcomes = await poller.poll_all([source] if source else None)
    done = [o for o in outcomes if o is not None]
    if not done:
        raise Problem(NOT_POLLING, "another process holds the poller lock: polls run there")
    if any(not o.recorded for o in done):
        detail = (
            "the database is unreachable: the polls failed, and are written to the poll log once it is back; "
            "retry later"
        )
        return problems.response(
            problems.POLL_FAILED,
            detail,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            extra={"outcomes": [_outcome(o) for o in done]},
        )
    return {"outcomes": [_outcome(o) for o in done]}
