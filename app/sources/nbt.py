"""National Bank of Tajikistan: somoni per `Nominal` units of foreign currency.

`<ValCurs Date="YYYY-MM-DD"><Valute><CharCode>USD</CharCode><Nominal>1</Nominal><Value>9.3450</Value>`.
Asked for a day it has no rates for, the bank answers with another day's document without saying so;
the quote's effective_date is `ValCurs@Date`, so the caller can compare it with the day it asked for.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from xml.etree.ElementTree import Element

from app.domain.freshness import Publication
from app.domain.quotes import Quote
from app.sources import _feed
from app.sources.base import SourceSpec

NAME = "nbt"
CURRENCY = "TJS"


def parse(body: bytes, observed_at: datetime) -> list[Quote]:
    """Every currency of the table against USD (TJS per USD, the others through it), effective on `ValCurs@Date`."""
    root = _feed.xml_root(body, NAME)
    _feed.expect_root(root, "ValCurs", NAME)
    effective = _feed.day(_feed.attribute(root, "Date", NAME), "%Y-%m-%d", f"{NAME} ValCurs@Date")
    return _feed.table_quotes(NAME, CURRENCY, (_row(v) for v in root.findall("Valute")), observed_at, effective)


def _row(valute: Element) -> tuple[str, Decimal]:
    code = _feed.code(_feed.child_text(valute, "CharCode", NAME), NAME)
    what = f"{NAME} {code}"
    return code, _feed.rate(_feed.child_text(valute, "Value", what), _feed.child_text(valute, "Nominal", what), what)


SPEC = SourceSpec(
    name=NAME,
    title="National Bank of Tajikistan official rates (TJS per unit of each currency)",
    default_url="https://www.nbt.tj/en/kurs/export_xml.php?date={date:%Y-%m-%d}&export=xmlout",
    parse=parse,
    authoritative_for=(CURRENCY,),
    home_currency=CURRENCY,
    default_interval_seconds=1800,
    utc_offset_hours=5,  # Dushanbe time, no DST
    publication=Publication.DAILY,
)
