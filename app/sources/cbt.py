"""Central Bank of Turkmenistan: manat per `multiplier` units of foreign currency.

`<cbt_currency_rate><date>DD.MM.YYYY</date><rate code="USD"><rate_usd>1</rate_usd><multiplier>1</multiplier>
<rate_tmt>3.5</rate_tmt>`; UTF-8 with CRLF and tabs (the parser strips them). Only `rate_tmt` is read:
`rate_usd` is a market-convention column whose direction changes by currency (AUD is USD per AUD,
KZT is KZT per USD), and cross rates are not ours to publish.
"""

from __future__ import annotations

from datetime import datetime

from app.domain.freshness import Publication
from app.domain.quotes import Quote
from app.sources import _feed
from app.sources.base import SourceSpec

NAME = "cbt"
CURRENCY = "TMT"


def parse(body: bytes, observed_at: datetime) -> list[Quote]:
    """The bank's USD rate as TMT per one USD, effective on the document's `<date>`."""
    root = _feed.xml_root(body, NAME)
    _feed.expect_root(root, "cbt_currency_rate", NAME)
    effective = _feed.day(_feed.child_text(root, "date", NAME), "%d.%m.%Y", NAME)
    entries = (r for r in root.findall("rate") if (r.get("code") or "").strip() == "USD")
    usd = _feed.only_one(entries, "USD", NAME)
    what = f"{NAME} USD"
    value = _feed.rate(_feed.child_text(usd, "rate_tmt", what), _feed.child_text(usd, "multiplier", what), what)
    return [_feed.own_currency_quote(NAME, CURRENCY, value, observed_at, effective)]


SPEC = SourceSpec(
    name=NAME,
    title="Central Bank of Turkmenistan official rates (TMT per USD)",
    default_url="https://cbt.tm/kurs/{date:%Y}/{date:%d%m%Y}.xml",
    parse=parse,
    authoritative_for=(CURRENCY,),
    default_interval_seconds=1800,
    utc_offset_hours=5,  # Ashgabat time, no DST: the bank dates its file by it
    publication=Publication.DAILY,
)
