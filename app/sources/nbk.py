"""National Bank of Kazakhstan: tenge per unit of some 40 foreign currencies (`quant` units: 10 or 100 for some).

Two shapes carry the same items (`<title>ISO</title><description>KZT per quant</description><quant>`):
the dated feed `get_rates.cfm?fdate=` is `<rates>` with one `<date>DD.MM.YYYY</date>`; the undated
`rates_all.xml` is RSS 2.0 (`rss/channel/item`) with the date in each item's `<pubDate>`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from xml.etree.ElementTree import Element

from app.domain.freshness import Publication
from app.domain.quotes import Quote
from app.sources import _feed
from app.sources.base import ParseError, SourceSpec

NAME = "nbk"
CURRENCY = "KZT"


def _rss_day(text: str, what: str) -> date:
    # The bank prints `DD.MM.YYYY` where RSS wants RFC 822; accept either.
    try:
        return _feed.day(text, "%d.%m.%Y", what)
    except ParseError:
        pass
    try:
        return parsedate_to_datetime(text).date()
    except (TypeError, ValueError):
        raise ParseError(f"{what}: pubDate {text!r} is neither DD.MM.YYYY nor an RFC 822 date") from None


def _items_and_day(root: Element) -> tuple[list[Element], date | None]:
    """The items, and the date of the dated feed (None for RSS, where it comes with the item)."""
    if root.tag == "rates":
        return root.findall("item"), _feed.day(_feed.child_text(root, "date", NAME), "%d.%m.%Y", NAME)
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise ParseError(f"{NAME}: RSS without <channel>")
        return channel.findall("item"), None
    raise ParseError(f"{NAME}: root element is <{root.tag}>, expected <rates> or <rss>")


def _row(item: Element) -> tuple[str, Decimal]:
    code = _feed.code(_feed.child_text(item, "title", NAME), NAME)
    what = f"{NAME} {code}"
    return code, _feed.rate(_feed.child_text(item, "description", what), _feed.child_text(item, "quant", what), what)


def parse(body: bytes, observed_at: datetime) -> list[Quote]:
    """Every currency of the table against USD (KZT per USD from the USD row, the others through it), effective
    on the date the feed gives (RSS: the USD item's, and only the items of that day)."""
    root = _feed.xml_root(body, NAME)
    items, feed_day = _items_and_day(root)
    if feed_day is None:
        usd = _feed.only_one((i for i in items if (i.findtext("title") or "").strip() == "USD"), "USD", NAME)
        feed_day = _rss_day(_feed.child_text(usd, "pubDate", f"{NAME} USD"), f"{NAME} USD")
        items = [i for i in items if _rss_day(_feed.child_text(i, "pubDate", NAME), NAME) == feed_day]
    return _feed.table_quotes(NAME, CURRENCY, (_row(item) for item in items), observed_at, feed_day)


SPEC = SourceSpec(
    name=NAME,
    title="National Bank of Kazakhstan official rates (KZT per unit of each currency)",
    default_url="https://nationalbank.kz/rss/get_rates.cfm?fdate={date:%d.%m.%Y}",
    parse=parse,
    authoritative_for=(CURRENCY,),
    home_currency=CURRENCY,
    default_interval_seconds=1800,
    utc_offset_hours=5,  # Kazakhstan has kept one zone, UTC+5, since March 2024
    publication=Publication.DAILY,
)
