"""What every source has in common: the parse error and the description the poller reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from app.domain.quotes import Quote


class ParseError(ValueError):
    """The body is not what the feed is supposed to publish (changed markup, garbage, wrong day)."""


Parser = Callable[[bytes, datetime], list[Quote]]


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

    @property
    def dated(self) -> bool:
        return "{date" in self.default_url


def url_for(template: str, day: date | None = None) -> str:
    """The URL to fetch: a dated template filled with `day`, or the URL as it is."""
    return template.format(date=day) if day is not None and "{date" in template else template
