"""Every source the service knows, by its configuration name, in the default order of preference; and the
settings and cadences that follow from them.

Adding a source: write its module (a pure `parse` and its SourceSpec), add its SPEC to SOURCES. Its settings
(FX_SOURCE_<NAME>_*) and everything else follow from the spec.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from app.core import settings as core_settings
from app.core.settings import Catalog, Settings
from app.domain.freshness import Cadence
from app.domain.quotes import SUPPORTED_CURRENCIES
from app.sources import cbt, cbu, erapi, nbk, nbkr, nbt, peg, ticker
from app.sources.base import SourceSpec

SOURCES: dict[str, SourceSpec] = {
    spec.name: spec for spec in (nbk.SPEC, nbkr.SPEC, nbt.SPEC, cbu.SPEC, cbt.SPEC, peg.SPEC, erapi.SPEC, ticker.SPEC)
}
CATALOG = Catalog(SUPPORTED_CURRENCIES, tuple(spec.defaults for spec in SOURCES.values()))


def settings_class() -> type[Settings]:
    """The settings class with every source's settings (for documentation and checks)."""
    return core_settings.settings_class(CATALOG)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (and .env), or SettingsError naming each bad variable."""
    return core_settings.load_settings(CATALOG, **overrides)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def cadence(settings: Settings, name: str) -> Cadence:
    """How long `name`'s values hold, as declared by the source and tuned by the settings."""
    return Cadence(
        SOURCES[name].publication,
        interval=timedelta(seconds=settings.source_interval(name)),
        max_gap=timedelta(seconds=settings.source_max_gap(name)),
        stale_days=settings.bank_stale_days,
    )


def servable(settings: Settings, name: str) -> bool:
    """Whether `name`'s values may be served (an answer, a stream, an export), by its terms and the settings. The
    one rule every answer asks; a source that may not be served is still polled, stored and compared."""
    terms = SOURCES[name].terms
    return terms is None or terms.allowed(settings)


def served_sources(settings: Settings) -> list[str]:
    """The sources answers are taken from, in order of preference: enabled, and servable by their terms."""
    return [name for name in settings.source_priority if name in settings.sources and servable(settings, name)]


def not_served_because(settings: Settings, name: str) -> str | None:
    """Why `name` is not served (its terms, and the setting that would allow it), or None when it is."""
    terms = SOURCES[name].terms
    if terms is None or terms.allowed(settings):
        return None
    return (
        f"source {name!r} is a cross-check only: {terms.why}. If your plan's terms allow serving it, set "
        f"{terms.setting} (docs/sources.md#{name}-a-cross-check-only)"
    )


def authoritative_source(currency: str) -> str | None:
    """The source that is the official word on `currency` (its central bank)."""
    return next((s.name for s in SOURCES.values() if currency in s.authoritative_for and s.fetches), None)
