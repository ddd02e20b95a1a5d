"""What the central-bank feeds share: safe XML and JSON reading, published numbers, nominals, dates.

Every helper raises `ParseError` with the feed's name and what was wrong; no other exception leaves it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XMLSyntaxError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from app.domain.quotes import Quote
from app.domain.values import Value
from app.sources.base import ParseError

# Digits with one optional decimal separator, point or comma (NBKR prints `87,4500`). No exponent, no
# thousands separator, no NaN/Infinity: anything else is not a rate as the banks print it.
_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")
_INTEGER = re.compile(r"\d+")


def xml_root(body: bytes, feed: str) -> Element:
    """The document element, parsed from bytes so the XML declaration picks the encoding (NBKR: windows-1251).

    Any DTD is refused: no feed needs one, and it is how entity bombs and external entities get in.
    """
    if not body.strip():
        raise ParseError(f"{feed}: empty body")
    try:
        root: Element = SafeET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:  # DTD, entity declaration, external reference
        raise ParseError(f"{feed}: refused unsafe XML ({type(exc).__name__}: {exc})") from None
    except (XMLSyntaxError, ValueError, LookupError) as exc:  # malformed, truncated, unknown encoding
        raise ParseError(f"{feed}: not well-formed XML: {exc}") from None
    return root


def expect_root(root: Element, tag: str, feed: str) -> None:
    if root.tag != tag:
        raise ParseError(f"{feed}: root element is <{root.tag}>, expected <{tag}>")


def child_text(element: Element, tag: str, what: str) -> str:
    """The stripped text of the first `tag` child, which must be present and non-empty."""
    child = element.find(tag)
    if child is None:
        raise ParseError(f"{what}: no <{tag}> element")
    text = (child.text or "").strip()
    if not text:
        raise ParseError(f"{what}: <{tag}> is empty")
    return text


def attribute(element: Element, name: str, what: str) -> str:
    value = (element.get(name) or "").strip()
    if not value:
        raise ParseError(f"{what}: <{element.tag}> has no {name}= attribute")
    return value


def json_body(body: bytes, feed: str) -> Any:
    """JSON with every number as the Decimal it prints (a float would lose the published digits)."""
    if not body.strip():
        raise ParseError(f"{feed}: empty body")
    try:
        # NaN/Infinity become Decimal too, so `positive` rejects them with a clear message.
        return json.loads(body, parse_float=Decimal, parse_int=Decimal, parse_constant=Decimal)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ParseError(f"{feed}: not valid JSON: {exc}") from None


def number(text: str, what: str) -> Decimal:
    """A published decimal, point or comma, with its digits kept (`9.3450` stays `9.3450`)."""
    cleaned = text.strip()
    if not _NUMBER.fullmatch(cleaned):
        raise ParseError(f"{what}: {text!r} is not a decimal number")
    return Decimal(cleaned.replace(",", "."))


def nominal(text: str, what: str) -> int:
    """How many units the rate is quoted for: 1, 10, 100, ... (a power of ten, so dividing by it is exact)."""
    cleaned = text.strip()
    if not _INTEGER.fullmatch(cleaned):
        raise ParseError(f"{what}: nominal {text!r} is not a whole number")
    units = int(cleaned)
    if units < 1 or str(units).rstrip("0") != "1":
        raise ParseError(f"{what}: nominal {units} is not a power of ten")
    return units


def positive(value: Decimal, what: str) -> Decimal:
    if not value.is_finite() or value <= 0:
        raise ParseError(f"{what}: rate {value} is not a positive finite number")
    return value


def per_unit(value: Decimal, units: int) -> Decimal:
    """`value` quoted for `units` units, as the rate of one unit. A decimal shift: exact, digits kept."""
    return value.scaleb(-(len(str(units)) - 1))


def rate(value_text: str, nominal_text: str, what: str) -> Decimal:
    """Local currency per one unit from a published value and nominal (`3.93` per `100` -> `0.0393`)."""
    return positive(per_unit(number(value_text, what), nominal(nominal_text, what)), what)


def day(text: str, fmt: str, what: str) -> date:
    try:
        return datetime.strptime(text.strip(), fmt).date()
    except ValueError:
        raise ParseError(f"{what}: date {text!r} does not match {fmt}") from None


def only_one(matches: Iterable[Any], code: str, feed: str) -> Any:
    """The single entry for `code`: absent or listed twice is a feed we cannot trust."""
    found = list(matches)
    if not found:
        raise ParseError(f"{feed}: no {code} entry in the feed")
    if len(found) > 1:
        raise ParseError(f"{feed}: {code} is listed {len(found)} times")
    return found[0]


_CODE = re.compile(r"[A-Z]{3}")


def code(text: str, what: str) -> str:
    """An ISO 4217 code as a table prints it (three capital letters)."""
    cleaned = text.strip()
    if not _CODE.fullmatch(cleaned):
        raise ParseError(f"{what}: currency code {text!r} is not three capital letters")
    return cleaned


def table_quotes(
    source: str, home: str, rows: Iterable[tuple[str, Decimal]], observed_at: datetime, effective_date: date
) -> list[Quote]:
    """Every row of a bank's table (code, home currency per one unit) as a quote against USD: the dollar row is
    the home currency's own quote; every other currency's is that row over its own (Value.ratio), exact."""
    by_code: dict[str, Decimal] = {}
    for row_code, value in rows:
        if row_code in by_code:
            raise ParseError(f"{source}: {row_code} is listed twice")
        by_code[row_code] = value
    usd = by_code.pop("USD", None)
    if usd is None:
        raise ParseError(f"{source}: no USD entry in the feed")
    by_code.pop(home, None)  # a bank's own currency at 1: nothing to learn from it
    quotes = [own_currency_quote(source, home, usd, observed_at, effective_date)]
    for row_code, value in by_code.items():
        quotes.append(Quote(row_code, source, Value.ratio(usd, value), observed_at, effective_date))
    return quotes


def own_currency_quote(
    source: str, currency: str, value: Decimal, observed_at: datetime, effective_date: date
) -> Quote:
    """A central bank's rate for USD: units of its own currency per one USD."""
    return Quote(
        currency=currency,
        source=source,
        value=Value(value, per_usd=True),
        observed_at=observed_at,
        effective_date=effective_date,
    )
