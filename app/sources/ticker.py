"""The currency ticker news sites print: `KGS/USD = 0.01144 0%`, repeated by a marquee.

Values are USD per one unit of the local currency. The page may be HTML (tags and `&nbsp;` between
the parts) or a text rendering of it (bullets), with four or five pairs; the change has no `+`, may
read `-0%`, and is the source's own figure, kept as printed.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from html.parser import HTMLParser

from app.domain.quotes import Quote
from app.domain.values import Value
from app.sources.base import ParseError, SourceSpec

NAME = "ticker"

# Digit runs are bounded: a rate is a handful of digits, and an unbounded run would be stored as is.
_ENTRY = re.compile(
    r"\b(?P<currency>[A-Z]{3})\s*/\s*USD\s*=\s*(?P<rate>\d{1,12}(?:[.,]\d{1,20})?)(?![\d.,]*\d)"
    r"(?:\s*(?P<change>[-+\u2212\u2013]?\s*\d{1,6}(?:[.,]\d{1,6})?)\s*%)?"
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)


class _Text(HTMLParser):
    """Visible text of an HTML page: tags become spaces, entities are decoded, scripts and styles dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template"):
            self._hidden += 1
        self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template") and self._hidden:
            self._hidden -= 1
        self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _decode(body: bytes) -> str:
    match = _META_CHARSET.search(body[:4096])
    encoding = match.group(1).decode("ascii") if match else "utf-8"
    try:
        return body.decode(encoding, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def page_text(body: bytes) -> str:
    """The text a reader sees; a text rendering passes through unchanged but for entity decoding."""
    parser = _Text()
    try:
        parser.feed(_decode(body))
        parser.close()
    except Exception as exc:  # html.parser asserts on some malformed markup (`<![foo[`)
        raise ParseError(f"unreadable HTML: {type(exc).__name__}: {exc}") from None
    return "".join(parser.parts)


def _number(text: str) -> Decimal:
    cleaned = text.replace(",", ".").replace("\u2212", "-").replace("\u2013", "-").replace(" ", "")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise ParseError(f"not a number: {text!r}") from None
    return number + 0 if number.is_zero() else number  # `-0%` is no change: drop the sign


def parse(body: bytes, observed_at: datetime) -> list[Quote]:
    """Every `CCC/USD = rate change%` entry on the page, repeats included (collapse removes them)."""
    quotes = []
    for match in _ENTRY.finditer(page_text(body)):
        rate = _number(match["rate"])
        if not rate.is_finite() or rate <= 0:
            raise ParseError(f"{match['currency']}/USD rate {match['rate']} is not a positive number")
        change = _number(match["change"]) if match["change"] else None
        quotes.append(
            Quote(
                currency=match["currency"],
                source=NAME,
                value=Value(rate, per_usd=False),
                observed_at=observed_at,
                reported_change_pct=change,
            )
        )
    if not quotes:
        raise ParseError("no `CCC/USD = rate` entries on the page: the ticker is missing or its markup changed")
    return quotes


_PERCENT = Decimal("0.01")


def entry(currency: str, rate: Decimal, change_pct: Decimal | None, decimals: int) -> str:
    """One entry as the ticker prints it, `KGS/USD = 0.01144 0%`: `parse` reads it back.

    The rate is rounded half-even to `decimals` places, but never to zero (a zero rate is no rate: the Uzbek
    sum at three places would read 0.000), so a rate that small keeps its first significant digit. The change
    is in percent with at most two decimals, as the ticker prints it (`-0.09%`, `0%`).
    """
    places = max(decimals, -rate.adjusted())
    shown = rate.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    change = (change_pct or Decimal(0)).quantize(_PERCENT, rounding=ROUND_HALF_EVEN)
    percent = "0" if change.is_zero() else f"{change.normalize():f}"
    return f"{currency}/USD = {shown:f} {percent}%"


SPEC = SourceSpec(
    name=NAME,
    title="Currency ticker of The Times of Central Asia (five decimals, USD per unit)",
    default_url="https://timesca.com/",
    parse=parse,
    default_interval_seconds=300,
)
