"""Central Bank of Turkmenistan: manat per `multiplier` units of foreign currency.

`<cbt_currency_rate><date>DD.MM.YYYY</date><rate code="USD"><rate_usd>1</rate_usd><multiplier>1</multiplier>
<rate_tmt>3.5</rate_tmt>`; UTF-8 with CRLF and tabs (the parser strips them). Only `rate_tmt` is read:
`rate_usd` is a market-convention column whose direction changes by currency (AUD is USD per AUD,
KZT is KZT per USD); every currency is read from `rate_tmt`, through the USD row.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from xml.etree.ElementTree import Element

from app.domain.freshness import Publication
from app.domain.quotes import Quote
from app.sources import _feed
from app.sources.base import SourceSpec

NAME = "cbt"
CURRENCY = "TMT"


def parse(body: bytes, observed_at: datetime) -> list[Quote]:
    """Every currency of the table against USD (TMT per USD, the others through it), effective on `<date>`."""
    root = _feed.xml_root(body, NAME)
    _feed.expect_root(root, "cbt_currency_rate", NAME)
    effective = _feed.day(_feed.child_text(root, "date", NAME), "%d.%m.%Y", NAME)
    return _feed.table_quotes(NAME, CURRENCY, (_row(r) for r in root.findall("rate")), observed_at, effective)


def _row(rate: Element) -> tuple[str, Decimal]:
    code = _feed.code(_feed.attribute(rate, "code", NAME), NAME)
    what = f"{NAME} {code}"
    return code, _feed.rate(_feed.child_text(rate, "rate_tmt", what), _feed.child_text(rate, "multiplier", what), what)


SPEC = SourceSpec(
    name=NAME,
    title="Central Bank of Turkmenistan official rates (TMT per unit of each currency)",
    default_url="https://cbt.tm/kurs/{date:%Y}/{date:%d%m%Y}.xml",
    parse=parse,
    authoritative_for=(CURRENCY,),
    home_currency=CURRENCY,
    default_interval_seconds=1800,
    utc_offset_hours=5,  # Ashgabat time, no DST: the bank dates its file by it
    publication=Publication.DAILY,
)
