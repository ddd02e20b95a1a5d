"""Dependencies the routes share: a database session, the settings, the latest-rates snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from app.core.settings import Settings
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


SessionDep = Annotated[Session, Depends(_session)]
SettingsDep = Annotated[Settings, Depends(_settings)]
LatestDep = Annotated[LatestService, Depends(_latest)]
