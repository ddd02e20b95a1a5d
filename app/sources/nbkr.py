"""National Bank of the Kyrgyz Republic: som per unit of foreign currency.

`daily.xml` and `weekly.xml` are `<CurrencyRates Date="DD.MM.YYYY">` documents declared windows-1251,
with decimal commas (`87,4500`). `Date` is the day the rates take effect (published the day before).
USD is only in the daily list; the weekly list carries some 40 other currencies, so it has no KGS/USD.
The history page of one currency is HTML whose cells are marked `<!--date-->..<!--date-->` and
`<!--value-->..<!--value-->`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from xml.etree.ElementTree import Element

from app.domain.freshness import Publication
from app.domain.quotes import Quote
from app.sources import _feed
from app.sources.base import HistoryPage, ParseError, SourceSpec

NAME = "nbkr"
CURRENCY = "KGS"
# The history of one currency between two dates (valuta_id 15 is USD); `fx-ticker backfill` fills the range.
HISTORY_URL = (
    "https://www.nbkr.kg/index1.jsp?item=1562&lang=ENG&valuta_id=15"
    "&beg_day={start:%d}&beg_month={start:%m}&beg_year={start:%Y}"
    "&end_day={end:%d}&end_month={end:%m}&end_year={end:%Y}"
)

# The markers are ASCII whatever the page's encoding, so the page is read as bytes and never decoded.
_MARK = re.compile(rb"<!--(date|value)-->(.*?)<!--\1-->", re.DOTALL)
_TABLE_END = re.compile(rb"</table\s*>", re.IGNORECASE)


def parse(body: bytes, observed_at: datetime) -> list[Quote]:
    """Every currency of the daily list against USD (KGS per USD, EUR, CNY, KZT, RUB through it), effective on
    the document's `Date`."""
    root = _feed.xml_root(body, NAME)
    _feed.expect_root(root, "CurrencyRates", NAME)
    effective = _feed.day(_feed.attribute(root, "Date", NAME), "%d.%m.%Y", f"{NAME} CurrencyRates@Date")
    entries = root.findall("Currency")
    if not any((c.get("ISOCode") or "").strip() == "USD" for c in entries):
        # The weekly list is well-formed and dated but never carries USD: say so rather than "changed markup".
        raise ParseError(f"{NAME}: no USD entry in {root.get('Name') or 'the list'!r} (USD is only in daily.xml)")
    return _feed.table_quotes(NAME, CURRENCY, (_row(c) for c in entries), observed_at, effective)


def _row(currency: Element) -> tuple[str, Decimal]:
    code = _feed.code(_feed.attribute(currency, "ISOCode", NAME), NAME)
    what = f"{NAME} {code}"
    value, nominal = _feed.child_text(currency, "Value", what), _feed.child_text(currency, "Nominal", what)
    return code, _feed.rate(value, nominal, what)


def parse_history(body: bytes, observed_at: datetime, currency: str = CURRENCY) -> list[Quote]:
    """One quote per row of the USD history page, in page order (the bank lists the newest first).

    Each value is `currency` (the som) per one USD, effective on its row's date.
    """
    marks = [(kind.decode(), text.strip()) for kind, text in _MARK.findall(body)]
    if not marks:
        raise ParseError(f"{NAME} history: no <!--date--> / <!--value--> markers on the page")
    # A page cut off between two rows still pairs up: only the closed table shows that every row arrived.
    if not _TABLE_END.search(body, body.rfind(b"<!--value-->")):
        raise ParseError(f"{NAME} history: no </table> after the last row: the page is truncated")
    # Rows are date then value; pairing by position would silently shift every row after a gap.
    kinds = [kind for kind, _ in marks]
    if len(marks) % 2 or kinds != ["date", "value"] * (len(marks) // 2):
        raise ParseError(f"{NAME} history: date and value markers do not alternate: {kinds}")
    seen: dict[date, Quote] = {}
    for (_, day_text), (_, value_text) in zip(marks[::2], marks[1::2], strict=True):
        what = f"{NAME} history {day_text.decode('ascii', 'replace')}"
        try:
            day_str, value_str = day_text.decode("ascii"), value_text.decode("ascii")
        except UnicodeDecodeError:
            raise ParseError(f"{what}: non-ASCII bytes in a date or value cell") from None
        effective = _feed.day(day_str, "%d.%m.%Y", what)
        value = _feed.positive(_feed.number(value_str, what), what)
        if effective in seen:
            if seen[effective].value.value != value:
                raise ParseError(f"{what}: listed twice with different values")
            continue
        seen[effective] = _feed.own_currency_quote(NAME, currency, value, observed_at, effective)
    return list(seen.values())


SPEC = SourceSpec(
    name=NAME,
    title="National Bank of the Kyrgyz Republic official daily rates (KGS per unit of each currency)",
    default_url="https://www.nbkr.kg/XML/daily.xml",
    parse=parse,
    authoritative_for=(CURRENCY,),
    home_currency=CURRENCY,
    default_interval_seconds=1800,
    utc_offset_hours=6,  # Bishkek time, no DST
    publication=Publication.DAILY,
    history=HistoryPage(HISTORY_URL, parse_history),
)
