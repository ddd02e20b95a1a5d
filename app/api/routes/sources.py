"""`/sources`: what each upstream is doing: last attempt, last success, failures, next poll, flags."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from app.api.caching import json_response
from app.api.dbaccess import database
from app.api.deps import SettingsDep, poller_views
from app.core.jsonenc import dumps
from app.read.status import all_sources

router = APIRouter(tags=["sources"])


class FlagOut(BaseModel):
    currency: str
    kind: str = Field(description="`jump` (moved too far from its previous value) or `spread` (disagrees)")
    detail: str
    raised_at: datetime


class SourceOut(BaseModel):
    name: str = Field(examples=["nbk"])
    title: str
    enabled: bool
    authoritative_for: list[str] = Field(description="Currencies this source is the official word on")
    currencies: list[str] = Field(description="Configured currencies this source quotes")
    url: str | None = Field(description="What is fetched; `{date:...}` is filled with the publisher's date")
    interval_seconds: int
    publishes: str = Field(
        description="How long its values hold (the freshness rule): `daily` (an official rate, until the next"
        " publication), `announced` (daily, fresh until the next update its response announces) or `intraday`"
        " (while polls confirm it)",
        examples=["daily"],
    )
    last_attempt: datetime | None
    last_success: datetime | None
    last_error: str | None = Field(description="The latest failed or rejected poll's reason")
    last_error_at: datetime | None
    last_rejections: str | None = Field(description="Quotes refused in the latest poll that had any, and why")
    last_rejections_at: datetime | None
    consecutive_failures: int
    backoff_until: datetime | None
    next_poll: datetime | None
    overdue: bool | None = Field(
        description="True when no poll has been recorded since one was due (allowing `FX_POLL_JITTER`, the fetch and"
        " the poll deadline): the poller is stopped, stuck, or cannot write to the database. `null` for a disabled"
        " or never-polled source"
    )
    unrecorded: int | None = Field(
        description="Failed polls whose poll-log rows wait in the poller's memory: the database cannot take them now"
        " (a full disk, an outage). `null` where this process does not poll: ask the poller"
    )
    runs_skipped: int | None = Field(
        description="Scheduled polls not started because the previous poll of this source still ran, since the"
        " poller started. `null` where this process does not poll"
    )
    last_run_skipped_at: datetime | None
    spans_stored: int
    flags_raised: int
    recent_flags: list[FlagOut]
    attribution: str | None = Field(description="Credit the source's terms require, to show with its numbers")
    served: bool = Field(
        description="Whether its values are served (answers, streams, exports). False for a source whose terms forbid"
        " it: a cross-check only, still polled, stored and compared (spread and jump flags)"
    )
    not_served_because: str | None = Field(
        description="Why it is a cross-check only, and the setting that declares a plan whose terms allow serving it"
    )


class SourcesOut(BaseModel):
    sources: list[SourceOut]


@router.get("/sources", response_model=SourcesOut, summary="Every upstream source and how its polls are going")
async def sources(request: Request, settings: SettingsDep) -> Response:
    # The poller's view is taken here, in the event loop, before the database is read in a worker thread.
    views = poller_views(request)

    def render(session: Session) -> Response:
        return json_response(request, dumps({"sources": all_sources(session, settings, views)}))

    return await database(request).read(render)
