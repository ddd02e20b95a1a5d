"""Every source the service knows, by its configuration name."""

from __future__ import annotations

from app.sources import ticker
from app.sources.base import SourceSpec

SOURCES: dict[str, SourceSpec] = {spec.name: spec for spec in (ticker.SPEC,)}
