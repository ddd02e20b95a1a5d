"""ExchangeRate-API open access (no key): `rates` maps ISO codes to units per one USD, as JSON numbers.

The numbers are read as Decimals so the published digits survive (`85.734152`, not a float's nearest).
The rates refresh once a day; the day they belong to is `time_last_update_unix` / `time_last_update_utc`, and
the response announces the next refresh (`time_next_update_unix` / `time_next_update_utc`): a value is fresh until
then (app.domain.freshness, Publication.ANNOUNCED).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

from app.core.settings import Settings
from app.domain import currencies
from app.domain.freshness import Publication
from app.domain.quotes import Quote
from app.domain.values import Value
from app.sources import _feed
from app.sources.base import ParseError, ServingTerms, SourceSpec

NAME = "erapi"


def _stamps(doc: dict[str, Any], which: str) -> list[datetime]:
    """The instants `time_<which>_unix` and `time_<which>_utc` give, those present (UTC)."""
    found: list[datetime] = []
    unix = doc.get(f"time_{which}_unix")
    if unix is not None:
        if not isinstance(unix, Decimal) or not unix.is_finite() or unix != unix.to_integral_value():
            raise ParseError(f"{NAME}: time_{which}_unix {unix!r} is not a whole number of seconds")
        try:
            found.append(datetime.fromtimestamp(int(unix), UTC))
        except (OverflowError, OSError, ValueError):
            raise ParseError(f"{NAME}: time_{which}_unix {unix} is out of range") from None
    text = doc.get(f"time_{which}_utc")
    if text is not None:
        try:
            stamp = parsedate_to_datetime(text) if isinstance(text, str) else None
        except (TypeError, ValueError):
            stamp = None
        if stamp is None:
            raise ParseError(f"{NAME}: time_{which}_utc {text!r} is not an RFC 822 date")
        found.append(stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC))
    return found


def _update_day(doc: dict[str, Any]) -> date:
    """The UTC day of the last update; when both stamps are given they must agree."""
    days = [stamp.date() for stamp in _stamps(doc, "last_update")]
    if not days:
        raise ParseError(f"{NAME}: no time_last_update_unix or time_last_update_utc")
    if len(set(days)) > 1:
        raise ParseError(f"{NAME}: time_last_update_unix and time_last_update_utc disagree ({days})")
    return days[0]


def _next_update(doc: dict[str, Any]) -> datetime | None:
    """When the next update is announced for (None when the response does not say); the two stamps must agree."""
    stamps = set(_stamps(doc, "next_update"))
    if len(stamps) > 1:
        raise ParseError(f"{NAME}: time_next_update_unix and time_next_update_utc disagree ({sorted(stamps)})")
    return stamps.pop() if stamps else None


def parse(body: bytes, observed_at: datetime) -> list[Quote]:
    """Each tracked currency the response lists, as units per one USD, effective on the update's UTC day."""
    doc = _feed.json_body(body, NAME)
    if not isinstance(doc, dict):
        raise ParseError(f"{NAME}: expected a JSON object, got {type(doc).__name__}")
    if doc.get("result") != "success":
        reason = doc.get("error-type", "no error-type given")
        raise ParseError(f"{NAME}: result is {doc.get('result')!r}, not 'success' ({reason})")
    if doc.get("base_code") != "USD":
        raise ParseError(f"{NAME}: base_code is {doc.get('base_code')!r}, expected 'USD'")
    rates = doc.get("rates")
    if not isinstance(rates, dict):
        raise ParseError(f"{NAME}: no `rates` object")
    if "USD" in rates and rates["USD"] != 1:
        raise ParseError(f"{NAME}: rates.USD is {rates['USD']!r}, not 1: the base is inconsistent")
    effective = _update_day(doc)
    next_update = _next_update(doc)
    quotes = []
    for currency, value in rates.items():
        if currency == "USD" or not currencies.known(currency):
            continue
        if not isinstance(value, Decimal):  # a string, bool or null where a JSON number belongs
            raise ParseError(f"{NAME} {currency}: rate {value!r} is not a JSON number")
        quotes.append(
            Quote(
                currency=currency,
                source=NAME,
                value=Value(_feed.positive(value, f"{NAME} {currency}"), per_usd=True),
                observed_at=observed_at,
                effective_date=effective,
                next_update=next_update,
            )
        )
    if not quotes:
        raise ParseError(f"{NAME}: no ISO 4217 currency in `rates`")
    return quotes


def _licensed(settings: Settings) -> bool:
    return settings.erapi_plan == "licensed"


# The open access terms (https://www.exchangerate-api.com/terms) allow caching, but forbid redistributing the data
# or using it in a service that offers programmatic access to exchange rates; attribution does not change that.
TERMS = ServingTerms(
    allowed=_licensed,
    why=(
        "ExchangeRate-API's open access terms forbid redistributing its rates or serving them through an API, so "
        "it is a cross-check only (it feeds the spread and jump flags and /sources)"
    ),
    setting="FX_ERAPI_PLAN=licensed",
)

SPEC = SourceSpec(
    name=NAME,
    title="ExchangeRate-API open access daily rates (units per USD)",
    default_url="https://open.er-api.com/v6/latest/USD",
    parse=parse,
    default_interval_seconds=3600,
    # Daily, and it says when it publishes next: a value is fresh until then (plus a grace), not for a fixed gap.
    publication=Publication.ANNOUNCED,
    # The open-access terms require this credit beside the rates.
    attribution="Rates By Exchange Rate API: https://www.exchangerate-api.com",
    terms=TERMS,
)
