"""Every source the service knows, by its configuration name, in the default order of preference; and the
settings and cadences that follow from them.

Adding a source: write its module (a pure `parse` and its SourceSpec), add its SPEC to SOURCES. Its settings
(FX_SOURCE_<NAME>_*) and everything else follow from the spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import lru_cache

from app.core import settings as core_settings
from app.core.settings import Catalog, Settings
from app.domain.currencies import DEFAULT_SERVED, known
from app.domain.freshness import Cadence, Publication
from app.domain.values import USD
from app.sources import cbt, cbu, erapi, nbk, nbkr, nbt, peg, ticker
from app.sources.base import SourceSpec

SOURCES: dict[str, SourceSpec] = {
    spec.name: spec for spec in (nbk.SPEC, nbkr.SPEC, nbt.SPEC, cbu.SPEC, cbt.SPEC, peg.SPEC, erapi.SPEC, ticker.SPEC)
}
CATALOG = Catalog(DEFAULT_SERVED, tuple(spec.defaults for spec in SOURCES.values()), known)


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


def served_sources(settings: Settings, currency: str | None = None) -> list[str]:
    """The sources answers are taken from, in order of preference: enabled, and servable by their terms. For one
    `currency`, those that quote it against USD come first (prefer_usd_quotes)."""
    order = [name for name in settings.source_priority if name in settings.sources and servable(settings, name)]
    return prefer_usd_quotes(order, currency) if currency is not None else order


def prefer_usd_quotes(order: Sequence[str], currency: str) -> list[str]:
    """`order` with the sources that quote `currency` against USD before those whose value of it comes through a
    bank's table (NBK's som, tenge per som over tenge per dollar): a currency's own bank, the ticker and the
    aggregator answer for it as they did before the tables were read; a table's row is the fallback."""
    return sorted(order, key=lambda name: quoted_in(name, currency) != USD)


def not_served_because(settings: Settings, name: str) -> str | None:
    """Why `name` is not served (its terms, and the setting that would allow it), or None when it is."""
    terms = SOURCES[name].terms
    if terms is None or terms.allowed(settings):
        return None
    return (
        f"source {name!r} is a cross-check only: {terms.why}. If your plan's terms allow serving it, set "
        f"{terms.setting} (docs/sources.md#{name}-a-cross-check-only)"
    )


def rolls_up_pairs(name: str) -> bool:
    """Whether the crosses of `name`'s series are kept in the pair rollups (app.ingest.pairs). Only a source whose
    values change within the day has crosses too long to cross on a request; a bank's change once a day, and its
    table of 40 currencies would be 1,560 pairs to keep on every poll."""
    spec = SOURCES.get(name)
    return spec is not None and spec.publication is Publication.INTRADAY


def home_currency(source: str) -> str | None:
    """The bank's own currency its table quotes the others in (None: `source` quotes against USD)."""
    spec = SOURCES.get(source)
    return spec.home_currency if spec is not None else None


def quoted_in(source: str, currency: str) -> str:
    """The currency `source` publishes `currency` in: a bank's own currency for the other rows of its table, USD
    for its own currency's (the dollar row) and for every other source."""
    home = home_currency(source)
    return home if home is not None and currency != home else USD


def cross_method(currency: str, source: str | None, base: str, base_source: str | None, same_day: bool) -> str:
    """How a rate in another base than USD was found, from its two legs (a None source: the leg is USD itself).

    `direct`: one bank's own cross, one leg its home currency, the other's row quoted in it (NBKR's som per
    tenge, exact); `same_table`: two rows of one bank's table of one day (NBK's rouble and euro, both in tenge);
    `via_usd`: two legs crossed through the dollar (two sources, two days, or a source that quotes in USD);
    `usd`: one side is the dollar itself."""
    if source is None or base_source is None:
        return "usd"
    home = home_currency(source)
    if source != base_source or home is None or not same_day:
        return "via_usd"
    return "direct" if home in (currency, base) else "same_table"


def authoritative_source(currency: str) -> str | None:
    """The source that is the official word on `currency` (its central bank)."""
    return next((s.name for s in SOURCES.values() if currency in s.authoritative_for and s.fetches), None)
