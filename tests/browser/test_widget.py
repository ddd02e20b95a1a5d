"""The embeddable ticker at `/widget/ticker`, in Chromium, on its own and inside another site's iframe."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import WIDGET_CSP, Site, Tab, plain, png_size, served, ticker_page
from tests.support import Upstream

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OpenTab = Callable[..., Tab]


def open_widget(open_tab: OpenTab, site: Site, query: str, width: int = 900, height: int = 40) -> Page:
    page = open_tab(site, width, height).page
    page.goto(site.url(f"/widget/ticker{query}"))
    expect(page.locator("#ticker .marquee-list").first).to_be_visible()
    return page


def entries(page: Page) -> list[dict[str, str]]:
    """The marquee's entries as read by assistive technology (the copies that fill the loop are hidden)."""
    items = page.locator("#ticker .marquee-list:not([aria-hidden]) > li.entry")
    result: list[dict[str, str]] = items.evaluate_all(
        """items => items.map(item => ({
            currency: item.dataset.currency,
            pair: item.querySelector('.pair').textContent,
            rate: item.querySelector('.rate').textContent,
        }))"""
    )
    return result


def test_the_widget_may_be_framed_by_any_site_and_the_dashboard_by_none(site: Site) -> None:
    widget = site.get("/widget/ticker?currencies=KGS")
    assert widget.headers["content-security-policy"] == WIDGET_CSP
    assert "x-frame-options" not in widget.headers
    assert widget.headers["x-content-type-options"] == "nosniff"
    assert site.get("/").headers["x-frame-options"] == "DENY"


def test_the_widget_shows_the_configured_currencies_in_their_order_and_decimals(open_tab: OpenTab, site: Site) -> None:
    page = open_widget(open_tab, site, "?currencies=TMT,KGS,kzt&decimals=3")
    latest = {rate["currency"]: rate for rate in site.json("/rates/latest")["rates"]}
    expect(page.locator("#ticker .marquee-list:not([aria-hidden]) > li.entry")).to_have_count(3)
    assert entries(page) == [
        {
            "currency": code,
            "pair": f"{code}/USD",
            # The ticker's own direction: USD per unit, the answer's inverse
            "rate": str(Decimal(latest[code]["inverse"]).quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN)),
        }
        for code in ["TMT", "KGS", "KZT"]
    ]


def test_the_widget_prints_five_decimals_like_the_news_ticker(open_tab: OpenTab, site: Site) -> None:
    page = open_widget(open_tab, site, "?currencies=KGS,KZT,TJS,UZS,TMT&decimals=5")
    # The recorded ticker page printed exactly these; the widget prints them back.
    assert [(entry["pair"], entry["rate"]) for entry in entries(page)] == [
        ("KGS/USD", "0.01144"),
        ("KZT/USD", "0.00201"),
        ("TJS/USD", "0.10567"),
        ("UZS/USD", "0.00008"),
        ("TMT/USD", "0.28571"),
    ]
    kgs = page.locator("#ticker .marquee-list:not([aria-hidden]) > li[data-currency=KGS]")
    # The answer's change_pct is of som per dollar, which rose; the widget shows the ticker's own figure (USD per
    # som) fall by as much: 1 / (1 + p) - 1.
    rate = Decimal(
        next(rate for rate in site.json("/rates/latest")["rates"] if rate["currency"] == "KGS")["change_pct"]
    )
    assert rate > 0
    change = (1 / (1 + rate / 100) - 1) * 100
    expect(kgs).to_have_class(re.compile(r"\bdown\b"))
    expect(kgs.locator(".change")).to_have_text(f"▼−{abs(change).quantize(Decimal('0.01')).normalize()}% down")


def test_without_decimals_the_widget_prints_every_published_digit(open_tab: OpenTab, site: Site) -> None:
    page = open_widget(open_tab, site, "")
    latest = site.json("/rates/latest")["rates"]
    assert [entry["rate"] for entry in entries(page)] == [plain(rate["inverse"]) for rate in latest]


def test_the_widget_has_a_dark_theme(open_tab: OpenTab, site: Site) -> None:
    dark = open_widget(open_tab, site, "?theme=dark")
    light = open_widget(open_tab, site, "?theme=light")
    background = "getComputedStyle(document.body).backgroundColor"
    assert dark.evaluate(background) == "rgb(17, 24, 39)"
    assert light.evaluate(background) == "rgb(255, 255, 255)"


def test_the_widget_explains_a_bad_configuration(open_tab: OpenTab, site: Site) -> None:
    tab = open_tab(site)
    page = tab.page
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(site.url("/widget/ticker?currencies=KGS,GBP"))
    detail = site.json("/currencies")  # the valid codes, as the API lists them
    expect(page.get_by_role("alert")).to_have_text(
        "parameter 'currencies': unknown currency 'GBP'; valid codes: "
        + ", ".join(currency["code"] for currency in detail["currencies"])
    )
    page.goto(site.url("/widget/ticker?decimals=many"))
    expect(page.get_by_role("alert")).to_have_text("decimals must be a whole number from 0 to 15, not 'many'")
    # A configuration the API refused is not retried, nor streamed.
    assert not [url for url in asked if "/rates/stream" in url]
    assert len([url for url in asked if "/rates/latest" in url]) == 1
    tab.errors[:] = [error for error in tab.errors if "status of 422" not in error]  # the refusal, as Chromium logs it


@pytest.fixture
def news_site() -> Iterator[Upstream]:
    """Another site (another port: another origin) with a page that frames one of ours. A real local server:
    Chromium refuses to let a page from the public internet (or from nowhere) frame a loopback address."""
    with Upstream() as server:
        yield server


def news_page(news_site: Upstream, site: Site, path: str) -> str:
    html = f"""<!doctype html><title>News</title><link rel="icon" href="data:,"><h1>Today's news</h1>
        <iframe src="{site.url(path)}" title="Exchange rates" width="728" height="40"></iframe>"""
    headers = {"Content-Type": "text/html; charset=utf-8"}
    return news_site.serve("/news", html.encode(), 200, **headers)


def test_a_news_site_embeds_the_widget_in_an_iframe(open_tab: OpenTab, site: Site, news_site: Upstream) -> None:
    page = open_tab(site).page
    page.goto(news_page(news_site, site, "/widget/ticker?currencies=KZT,UZS&decimals=5"))
    frame = page.frame_locator("iframe")
    expect(frame.locator(".marquee-list:not([aria-hidden]) > li.entry .pair")).to_have_text(["KZT/USD", "UZS/USD"])


def test_a_news_site_cannot_frame_the_dashboard(open_tab: OpenTab, site: Site, news_site: Upstream) -> None:
    tab = open_tab(site)
    tab.page.goto(news_page(news_site, site, "/"))
    frame = tab.page.frame_locator("iframe")
    expect(frame.locator("#rates-table")).to_have_count(0)
    tab.page.wait_for_timeout(500)
    # Chromium reports the refusal as a console error: the one this test expects.
    refused = [error for error in tab.errors if "frame" in error.lower()]
    assert refused
    tab.errors[:] = [error for error in tab.errors if error not in refused]


@pytest.fixture
def stale_site(tmp_path: Path) -> Iterator[Site]:
    """Every rate last seen 20 minutes ago: longer than the ticker's allowed gap (three 5-minute polls)."""

    def load(site: Site) -> None:
        now = datetime.now(UTC)
        site.ingest(ticker_page(KGS="0.01145"), observed_at=now - timedelta(minutes=40))
        site.ingest(ticker_page(), observed_at=now - timedelta(minutes=20))

    with served(tmp_path / "stale", load) as site:
        yield site


def test_stale_rates_are_marked_in_the_widget_and_the_dashboard(stale_site: Site, open_tab: OpenTab) -> None:
    assert all(rate["stale"] for rate in stale_site.json("/rates/latest")["rates"])
    widget = open_widget(open_tab, stale_site, "?currencies=KGS,TMT&decimals=5")
    for code in ["KGS", "TMT"]:
        entry = widget.locator(f"#ticker .marquee-list:not([aria-hidden]) > li[data-currency={code}]")
        expect(entry).to_have_class(re.compile(r"\bstale\b"))
        expect(entry.locator(".stale-badge")).to_have_text("stale")
    dashboard = open_tab(stale_site).page
    dashboard.goto(stale_site.url("/"))
    expect(dashboard.locator("#rates-table tr.stale")).to_have_count(5)
    expect(dashboard.locator("#rates-table tr[data-currency=KGS] .stale-badge")).to_have_text("stale")
    ticker_kgs = dashboard.locator("#ticker .marquee-list:not([aria-hidden]) > li[data-currency=KGS]")
    expect(ticker_kgs.locator(".stale-badge")).to_be_visible()
    expect(ticker_kgs.locator(".age")).to_have_text(re.compile(r"^2\d min ago$"))


def test_screenshot_of_the_widget(open_tab: OpenTab, site: Site, screenshots: Path) -> None:
    """docs/img/widget.png and widget-dark.png, shown in the README (`make screenshots`): the five currencies in the
    ticker's own notation, light and dark."""
    for theme, name in [("light", "widget.png"), ("dark", "widget-dark.png")]:
        page = open_widget(open_tab, site, f"?currencies=KGS,KZT,TJS,UZS,TMT&decimals=5&theme={theme}", 728, 40)
        entries = page.locator(".marquee-list:not([aria-hidden]) > li")
        expect(entries).to_have_count(5)
        expect(entries.first).to_contain_text("KGS/USD")
        page.screenshot(path=screenshots / name, animations="disabled")
        assert png_size(screenshots / name) == (728, 40)
