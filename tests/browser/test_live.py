"""Live pages over GET /rates/stream: a new rate shows without a reload; a dropped stream is said and mended."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Site, Tab, served, ticker_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OpenTab = Callable[..., Tab]
CHANGED = "0.01160"  # KGS, where the recorded page says 0.01144
CHANGED_RATE = "86.2068965517241"  # som per dollar: 1 / 0.01160 at 15 digits


def load(site: Site) -> None:
    site.ingest(ticker_page(KGS="0.01145"), observed_at=datetime.now(UTC) - timedelta(hours=1))
    site.ingest(ticker_page())


@pytest.fixture
def own_site(tmp_path: Path) -> Iterator[Site]:
    """A site of its own: these tests write to it, and stop and start it."""
    with served(tmp_path / "site", load) as site:
        yield site


def live(page: Page) -> None:
    expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=10_000)
    expect(page.locator("#live")).to_have_text("Live")


def test_the_dashboard_shows_a_new_rate_within_5_seconds_without_a_reload(own_site: Site, open_tab: OpenTab) -> None:
    page = open_tab(own_site).page
    page.goto(own_site.url("/"))
    live(page)
    page.locator("#chart").focus()
    page.keyboard.press("End")  # someone reading the newest bucket of the chart
    tooltip = page.locator("#chart .tooltip")
    expect(tooltip).to_contain_text("close87.4125874125874")  # som per dollar: 1 / 0.01144
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    own_site.ingest(ticker_page(KGS=CHANGED))
    row = page.locator("#rates-table tr[data-currency=KGS]")
    expect(row.locator("td.inverse")).to_have_text(CHANGED, timeout=5_000)
    expect(row.locator("td.rate")).to_have_text(CHANGED_RATE)
    entry = page.locator("#ticker .marquee-list:not([aria-hidden]) > li[data-currency=KGS]")
    expect(entry.locator(".rate")).to_have_text(CHANGED)  # the ticker's own notation: USD per som
    # The chart follows: the newest bucket now closes at the new rate.
    expect(tooltip).to_contain_text("close" + CHANGED_RATE, timeout=5_000)
    assert navigations == [], "the page was reloaded"


def test_the_widget_shows_a_new_rate_within_5_seconds(own_site: Site, open_tab: OpenTab) -> None:
    page = open_tab(own_site, 728, 40).page
    page.goto(own_site.url("/widget/ticker?currencies=TMT,KGS&decimals=4"))
    expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=10_000)
    own_site.ingest(ticker_page(KGS=CHANGED))
    entry = page.locator("#ticker .marquee-list:not([aria-hidden]) > li[data-currency=KGS]")
    expect(entry.locator(".rate")).to_have_text("0.0116", timeout=5_000)


def test_a_stopped_server_shows_not_live_and_a_restarted_one_live_again(own_site: Site, open_tab: OpenTab) -> None:
    tab = open_tab(own_site)
    page = tab.page
    page.goto(own_site.url("/"))
    live(page)
    assert own_site.server is not None
    port = own_site.server.port
    own_site.stop()
    marker = page.locator("#live")
    expect(marker).to_have_attribute("data-state", "offline", timeout=10_000)
    expect(marker).to_contain_text("Not live")
    own_site.start(port=port)  # the same address, as after a deploy
    expect(marker).to_have_attribute("data-state", "live", timeout=40_000)
    # While the server was away the browser said so in the console (the cut stream, the refused reconnections):
    # expected here, and only here.
    tab.errors[:] = [
        error for error in tab.errors if not re.search("ERR_CONNECTION_REFUSED|ERR_INCOMPLETE_CHUNKED", error)
    ]
    # Reconnected and up to date: a rate written now arrives over the new stream.
    own_site.ingest(ticker_page(KGS=CHANGED))
    expect(page.locator("#rates-table tr[data-currency=KGS] td.inverse")).to_have_text(CHANGED, timeout=5_000)
