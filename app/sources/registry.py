"""Every source the service knows, by its configuration name, in the default order of preference."""

from __future__ import annotations

from app.sources import cbt, cbu, erapi, nbk, nbkr, nbt, peg, ticker
from app.sources.base import SourceSpec

SOURCES: dict[str, SourceSpec] = {
    spec.name: spec for spec in (nbk.SPEC, nbkr.SPEC, nbt.SPEC, cbu.SPEC, cbt.SPEC, peg.SPEC, erapi.SPEC, ticker.SPEC)
}


def authoritative_source(currency: str) -> str | None:
    """The source that is the official word on `currency` (its central bank)."""
    return next((s.name for s in SOURCES.values() if currency in s.authoritative_for and s.fetches), None)
