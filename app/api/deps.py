"""Dependencies the routes share: a database session, the settings, the latest-rates snapshot, the poller's view."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from app.core.settings import Settings
from app.domain.health import PollerView
from app.ingest.poller import Poller
from app.read.latest import LatestService
from app.storage.engine import read_session


def _session(request: Request) -> Iterator[Session]:
    with read_session(request.app.state.engine) as session:
        yield session


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _latest(request: Request) -> LatestService:
    service: LatestService = request.app.state.latest
    return service


def poller_views(request: Request) -> Mapping[str, PollerView] | None:
    """Each source as this process's poller sees it (what the database may not hold yet), or None where this
    process does not poll (role `api`, or a standby that does not hold the poller lock). Call it in the event
    loop, where the poller's state changes."""
    poller: Poller | None = getattr(request.app.state, "poller", None)
    return poller.view() if poller is not None else None


SessionDep = Annotated[Session, Depends(_session)]
SettingsDep = Annotated[Settings, Depends(_settings)]
LatestDep = Annotated[LatestService, Depends(_latest)]
