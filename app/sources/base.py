"""What every source has in common: the parse error and the description the poller reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from app.core.settings import Settings, SourceDefaults
from app.domain.freshness import Publication
from app.domain.quotes import Quote


class ParseError(ValueError):
    """The body is not what the feed is supposed to publish (changed markup, garbage, wrong day)."""


Parser = Callable[[bytes, datetime], list[Quote]]


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """A page that lists a range of past days at once (`{start:FORMAT}`, `{end:FORMAT}` in its URL)."""

    url: str
    parse: Parser


@dataclass(frozen=True, slots=True)
class ServingTerms:
    """A source's terms restrict serving its values: unless `allowed(settings)`, they are a cross-check only
    (polled, stored, compared with the others in the spread and jump flags, shown in /sources), never an answer."""

    allowed: Callable[[Settings], bool]
    why: str  # the terms, in a sentence
    setting: str  # the setting that declares a plan whose terms allow serving, as `FX_NAME=value`


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A source as the poller sees it.

    `default_url` may hold a `{date:...}` placeholder (a dated feed); the configured URL replaces it, so a
    mirror keeps the same placeholder. `parse` is pure: bytes and the time they were fetched in, quotes out.
    """

    name: str
    title: str
    default_url: str
    parse: Parser
    authoritative_for: tuple[str, ...] = ()
    default_interval_seconds: int = 1800
    # The publisher's local time zone (none of them observes DST): a dated feed is asked for *its* today.
    utc_offset_hours: int = 0
    # False for declared data (the TMT peg): nothing to fetch, `parse` gets an empty body.
    fetches: bool = True
    # Credit the source's terms ask for, shown wherever its numbers are served.
    attribution: str | None = None
    # How long its values hold (app.domain.freshness): an official daily rate holds until the next publication;
    # an intraday quote while polls keep confirming it.
    publication: Publication = Publication.INTRADAY
    # A bank's own currency, which its table quotes every other currency in (None: it publishes against USD).
    home_currency: str | None = None
    # Where `fx-ticker backfill` reads many days at once, when the source has such a page.
    history: HistoryPage | None = None
    # A source whose terms forbid serving its data (app.sources.registry.servable): when it may be served after
    # all (the operator declared a plan that allows it), and why it is a cross-check only otherwise.
    terms: ServingTerms | None = None

    @property
    def dated(self) -> bool:
        """A feed asked for one day at a time (its URL has a `{date:...}` placeholder)."""
        return "{date" in self.default_url

    @property
    def backfills(self) -> bool:
        """Whether `fx-ticker backfill` can load its past: day by day, from a history page, or as declared."""
        return self.dated or self.history is not None or not self.fetches

    @property
    def defaults(self) -> SourceDefaults:
        history = self.history.url if self.history is not None else None
        return SourceDefaults(
            self.name, self.default_url if self.fetches else "", self.default_interval_seconds, history
        )


def url_for(template: str, day: date | None = None) -> str:
    """The URL to fetch: a dated template filled with `day`, or the URL as it is."""
    return template.format(date=day) if day is not None and "{date" in template else template
