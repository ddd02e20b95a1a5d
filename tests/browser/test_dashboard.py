"""The dashboard at `/`, in Chromium: what a person sees is what the API says, under the strict CSP."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import DASHBOARD_CSP, Site, Tab, exact_json, plain, png_size

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OpenTab = Callable[..., Tab]
STATIC_TYPES = {"document", "script", "stylesheet", "font", "image"}


def open_dashboard(open_tab: OpenTab, site: Site, width: int = 1280, height: int = 900) -> Page:
    page = open_tab(site, width, height).page
    page.goto(site.url("/"))
    # Every served currency has a row, those without data yet (RUB, EUR, CNY: the seed page is the ticker's) too.
    expect(page.locator("#rates-table tbody tr")).to_have_count(8)
    expect(page.locator("#chart-caption")).to_have_attribute("data-points", re.compile(r"^\d+$"))
    expect(page.locator("#sources-table tbody tr").first).to_be_visible()
    return page


def test_the_dashboard_is_served_with_its_security_headers(site: Site) -> None:
    response = site.get("/")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == DASHBOARD_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    again = httpx.get(site.url("/"), headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    script = site.get("/static/dashboard.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["cache-control"] == "no-cache"
    assert script.headers["x-content-type-options"] == "nosniff"
    vendored = site.get("/static/vendor/uplot/uPlot.iife.min.js?v=1.6.32")
    assert vendored.headers["cache-control"] == "public, max-age=31536000, immutable"
    missing = httpx.get(site.url("/static/nothing.js"))
    assert missing.status_code == 404


def test_the_pages_are_not_in_the_api_schema(site: Site) -> None:
    paths = site.json("/openapi.json")["paths"]
    assert not {"/", "/widget/ticker"} & set(paths)
    assert not any(path.startswith("/static") for path in paths)


def test_the_dashboard_loads_without_a_console_error(open_tab: OpenTab, site: Site) -> None:
    # A CSP violation (inline style, eval, a foreign host) is a console error in Chromium: the fixture fails on any.
    page = open_dashboard(open_tab, site)
    expect(page).to_have_title(re.compile("fx-ticker"))
    expect(page.locator("#convert-result .result")).to_be_visible()


def test_the_ticker_and_the_table_show_every_rate_exactly_as_the_api_gives_it(open_tab: OpenTab, site: Site) -> None:
    latest = site.json("/rates/latest")
    page = open_dashboard(open_tab, site)
    entries = page.locator("#ticker .marquee-list:not([aria-hidden]) > li")
    expect(entries).to_have_count(8)
    assert entries.evaluate_all("items => items.map(item => item.dataset.currency)") == [
        rate["currency"] for rate in latest["rates"]
    ]
    for rate in latest["rates"]:
        entry = page.locator(f"#ticker .marquee-list:not([aria-hidden]) > li[data-currency={rate['currency']}]")
        # The ticker in its own notation: USD per unit (the answer's inverse), the pair turned round (KGS/USD).
        base, currency = rate["pair"].split("/")
        expect(entry.locator(".pair")).to_have_text(f"{currency}/{base}")
        expect(entry.locator(".rate")).to_have_text(plain(rate["inverse"]))
        expect(entry.locator(".source")).to_have_text(rate["source"])
        # The ticker was ingested at start-up; the banks' tables are of their own days, months ago.
        age = r"just now|\d+ min ago" if rate["source"] == "ticker" else r"\d+ d ago"
        expect(entry.locator(".age")).to_have_text(re.compile(age))
        row = page.locator(f"#rates-table tr[data-currency={rate['currency']}]")
        expect(row.locator("td.rate")).to_have_text(plain(rate["rate"]))
        expect(row.locator("td.inverse")).to_have_text(plain(rate["inverse"]))
        # A bank's rate says the date it was fixed for after its source's name.
        expect(row.locator("td.source")).to_have_text(re.compile(rf"^{rate['source']}(effective \S+)?$"))
    # The published digits survive: 12500 units per USD (never 1.25E+4), trailing zeros kept.
    expect(page.locator("#rates-table tr[data-currency=UZS] td.rate")).to_have_text("12500")


def test_the_table_shows_the_change_over_each_period(open_tab: OpenTab, site: Site) -> None:
    page = open_dashboard(open_tab, site)
    for column, period in enumerate(["24h", "7d", "30d"]):
        changes = {change["currency"]: change for change in site.json(f"/rates/changes?period={period}")["changes"]}
        kgs = changes["KGS"]
        cell = page.locator("#rates-table tr[data-currency=KGS] td").nth(5 + column)  # after rate ... last seen
        value = float(kgs["change_pct"])
        mark = "▲" if value > 0 else "▼" if value < 0 else ""
        expect(cell).to_have_text(re.compile(rf"^{mark}[+−]?\d+(\.\d+)?%$"))
        expect(cell).to_have_attribute("title", re.compile(re.escape(plain(kgs["start_rate"]))))


def _chart_request(page: Page, click: Callable[[], None]) -> str:
    with page.expect_response(lambda response: "/history?" in response.url) as answer:
        click()
    assert answer.value.ok
    return answer.value.url


@pytest.mark.parametrize(("label", "interval"), [("1 d", "1h"), ("7 d", "1h"), ("30 d", "1h"), ("all", "1d")])
def test_the_chart_has_as_many_points_as_the_history_api_gives_for_its_range(
    open_tab: OpenTab, site: Site, label: str, interval: str
) -> None:
    page = open_dashboard(open_tab, site)
    _chart_request(page, lambda: page.get_by_role("button", name="KZT", exact=True).click())
    url = _chart_request(page, lambda: page.get_by_role("button", name=label, exact=True).click())
    expect(page.get_by_role("button", name=label, exact=True)).to_have_attribute("aria-pressed", "true")
    query = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
    assert urlsplit(url).path == "/rates/KZT/history"
    assert query["interval"] == interval
    if label == "all":  # from the first stored day: the NBK feed of 2026-04-01
        assert query["start"] == "2026-04-01T00:00:00Z"
    caption = page.locator("#chart-caption")
    expect(caption.locator("time.first")).to_have_attribute("datetime", query["start"])  # drawn: buckets begin there
    last = caption.locator("time.last").get_attribute("datetime")
    # The same range asked of the API directly, up to the last bucket the page has (an hour may have begun since).
    points = site.json(f"/rates/KZT/history?{urlencode({**query, 'end': last})}")["points"]
    assert caption.get_attribute("data-points") == str(len(points))
    assert caption.get_attribute("data-gaps") == str(sum(point["close"] is None for point in points))
    # The chart's data is one click away, for the same currency, range and interval.
    link = page.get_by_role("link", name=re.compile("Download KZT .* as CSV"))
    href = link.get_attribute("href")
    assert href is not None
    csv_query = {name: values[0] for name, values in parse_qs(urlsplit(href).query).items()}
    assert csv_query == {"currencies": "KZT", "start": query["start"], "interval": interval}
    csv = site.get(f"{href}&end={last}")
    assert csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.splitlines()) - 1 == sum(point["close"] is not None for point in points)


def test_the_chart_draws_gaps_and_its_tooltip_gives_the_exact_value_and_time(open_tab: OpenTab, site: Site) -> None:
    page = open_dashboard(open_tab, site)
    url = _chart_request(page, lambda: page.get_by_role("button", name="KGS", exact=True).click())
    points = site.json(urlsplit(url).path + "?" + urlsplit(url).query)["points"]
    assert any(point["close"] is None for point in points), "the sample's four-hour outage is a gap"
    expect(page.locator("#chart-caption")).to_contain_text("without a rate (drawn as gaps)")
    chart = page.locator("#chart")
    chart.focus()
    page.keyboard.press("End")  # the crosshair, by keyboard: the newest bucket
    tooltip = page.locator("#chart .tooltip")
    expect(tooltip).to_be_visible()
    last = points[-1]
    expect(tooltip.locator(".when")).to_have_text(last["t"][:16].replace("T", " ") + " UTC")
    expect(tooltip).to_contain_text("close" + plain(last["close"]))
    # Walk back into the outage: a gap says so instead of inventing a value.
    gap = max(i for i, point in enumerate(points) if point["close"] is None)
    for _ in range(len(points) - 1 - gap):
        page.keyboard.press("ArrowLeft")
    expect(tooltip).to_contain_text("no rate in force")
    expect(tooltip.locator(".when")).to_have_text(points[gap]["t"][:16].replace("T", " ") + " UTC")


def test_the_tooltip_shows_the_bucket_average_with_every_digit(open_tab: OpenTab, site: Site) -> None:
    """History buckets carry a time-weighted `average`; the page shows it as the API wrote it, never via a double."""
    average = "0.01144500000000001"  # more digits than a double keeps

    def with_average(route: Route) -> None:
        body, count = re.subn(r'"average":[0-9.eE+-]+', f'"average":{average}', route.fetch().text())
        assert count, "the history answer carries no average to replace"
        route.fulfill(status=200, content_type="application/json", body=body)

    tab = open_tab(site)
    tab.page.route("**/rates/*/history?**", with_average)
    tab.page.goto(site.url("/"))
    expect(tab.page.locator("#chart-caption")).to_have_attribute("data-points", re.compile(r"^\d+$"))
    tab.page.locator("#chart").focus()
    tab.page.keyboard.press("End")
    expect(tab.page.locator("#chart .tooltip")).to_contain_text("average" + average)


def test_the_converter_shows_the_api_result(open_tab: OpenTab, site: Site) -> None:
    page = open_dashboard(open_tab, site)
    page.get_by_label("Amount", exact=True).fill("1000")
    page.get_by_label("From", exact=True).select_option("KZT")
    page.get_by_label("To", exact=True).select_option("UZS")
    page.get_by_role("button", name="Convert").click()
    answer = site.json("/convert?from=KZT&to=UZS&amount=1000")
    expect(page.locator("#convert-result .result")).to_have_text(plain(answer["result"]))
    expect(page.locator("#convert-result")).to_contain_text(f"1 KZT = {plain(answer['rate'])} UZS")
    page.get_by_role("button", name="Swap the currencies").click()
    back = site.json("/convert?from=UZS&to=KZT&amount=1000")
    expect(page.locator("#convert-result .result")).to_have_text(plain(back["result"]))


def test_the_converter_explains_a_bad_amount(open_tab: OpenTab, site: Site) -> None:
    tab = open_tab(site)
    page = tab.page
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/convert?" in request.url else None)
    page.goto(site.url("/"))
    expect(page.locator("#convert-result .result")).to_be_visible()
    page.get_by_label("Amount", exact=True).fill("-5")  # not an amount at all: said at once, nothing asked
    page.get_by_role("button", name="Convert").click()
    expect(page.locator("#convert-result .error")).to_have_text("Enter a positive amount, such as 1000 or 12.5")
    assert not [url for url in asked if "amount=-5" in url]
    # One the page cannot judge, the API explains: more than 10^15.
    too_much = "10000000000000000"
    detail = httpx.get(site.url(f"/convert?from=USD&to=KZT&amount={too_much}")).json()["detail"]
    page.get_by_label("Amount", exact=True).fill(too_much)
    page.get_by_role("button", name="Convert").click()
    expect(page.locator("#convert-result .error")).to_have_text(detail)
    # Chromium logs every 4xx answer as a console error: this one was asked for.
    tab.errors[:] = [error for error in tab.errors if "status of 422" not in error]


def test_source_health_shows_successes_errors_and_flags(open_tab: OpenTab, site: Site) -> None:
    sources = {source["name"]: source for source in site.json("/sources")["sources"]}
    page = open_dashboard(open_tab, site)
    rows = page.locator("#sources-table tbody tr")
    expect(rows).to_have_count(len(sources))
    nbk = rows.filter(has=page.locator("th .code", has_text=re.compile("^nbk$")))
    expect(nbk).to_contain_text(sources["nbk"]["last_error"])
    ticker = rows.filter(has=page.locator("th .code", has_text=re.compile("^ticker$")))
    expect(ticker.locator("td").nth(0)).to_have_text(re.compile(r"just now|\d+ min ago"))
    expect(ticker.locator("td").nth(3)).to_have_text("none")  # no flags
    # erapi is polled and compared, not served (ExchangeRate-API's open access terms): the row says so, and why.
    erapi = rows.filter(has=page.locator("th .code", has_text=re.compile("^erapi$")))
    expect(erapi.locator("th .badge")).to_have_text("cross-check only")
    expect(erapi.locator("th .badge")).to_have_attribute("title", sources["erapi"]["not_served_because"])
    expect(ticker.locator("th .badge")).to_have_count(0)
    never = [name for name, source in sources.items() if source["last_success"] is None]
    assert never, "the sample polls some sources only"
    row = rows.filter(has=page.locator("th .code", has_text=re.compile(f"^{never[0]}$")))
    expect(row.locator("td").nth(0)).to_have_text("never")


def test_the_dashboard_is_usable_by_keyboard_with_named_controls(open_tab: OpenTab, site: Site) -> None:
    page = open_dashboard(open_tab, site)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the rates")).to_be_focused()
    for name in ["1 d", "7 d", "30 d", "1 y", "all", "KGS", "Convert", "Swap the currencies"]:
        expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()
    for label in ["Amount", "From", "To"]:
        expect(page.get_by_label(label, exact=True)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text=re.compile(r"\b(Live|Not live|Connecting)"))).to_have_count(1)
    expect(page.get_by_role("table", name=re.compile("latest rate of each currency"))).to_be_visible()
    # The range buttons are buttons: focus one and press Enter.
    thirty = page.get_by_role("button", name="30 d", exact=True)
    thirty.focus()
    with page.expect_response(lambda response: "/history?" in response.url):
        page.keyboard.press("Enter")
    expect(thirty).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="7 d", exact=True)).to_have_attribute("aria-pressed", "false")


def test_the_page_fits_a_phone_and_grows_on_a_wall_screen(open_tab: OpenTab, site: Site) -> None:
    phone = open_dashboard(open_tab, site, 390, 844)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sideways but the tables' own scroll
    wall = open_dashboard(open_tab, site, 2560, 1440)
    assert wall.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)") > 16


def test_the_ticker_stands_still_for_readers_who_ask_for_reduced_motion(open_tab: OpenTab, site: Site) -> None:
    animation = "element => getComputedStyle(element).animationName"
    still = open_tab(site, reduced_motion="reduce").page
    still.goto(site.url("/"))
    expect(still.locator("#ticker .marquee-list:not([aria-hidden]) > li")).to_have_count(8)
    assert still.locator("#ticker .marquee-track").evaluate(animation) == "none"
    # Standing still, the list is shown once: the copies that make the loop seamless are hidden.
    for copy in still.locator("#ticker .marquee-list[aria-hidden=true]").all():
        expect(copy).to_be_hidden()
    moving = open_tab(site).page
    moving.goto(site.url("/"))
    expect(moving.locator("#ticker .marquee-list:not([aria-hidden]) > li")).to_have_count(8)
    assert moving.locator("#ticker .marquee-track").evaluate(animation) == "marquee"
    expect(moving.locator("#ticker .marquee-list[aria-hidden=true]").first).to_be_visible()


def test_the_page_weighs_less_than_250_kb(open_tab: OpenTab, site: Site) -> None:
    tab = open_tab(site)
    sizes: dict[str, int] = {}

    def count(request: object) -> None:
        from playwright.sync_api import Request

        assert isinstance(request, Request)
        if request.resource_type in STATIC_TYPES:
            transferred = request.sizes()
            sizes[request.url] = transferred["responseBodySize"] + transferred["responseHeadersSize"]

    tab.page.on("requestfinished", count)
    tab.page.goto(site.url("/"))
    expect(tab.page.locator("#chart-caption")).to_have_attribute("data-points", re.compile(r"^\d+$"))
    total = sum(sizes.values())
    print(f"page weight: {total} bytes in {len(sizes)} files")  # shown with -s; the README quotes it
    assert {urlsplit(url).path for url in sizes} >= {
        "/",
        "/static/dashboard.js",
        "/static/fx.js",
        "/static/dashboard.css",
        "/static/vendor/uplot/uPlot.iife.min.js",
        "/static/vendor/uplot/uPlot.min.css",
    }
    assert all(urlsplit(url).netloc == urlsplit(site.url("/")).netloc for url in sizes), "nothing from elsewhere"
    assert total < 250_000


def test_screenshot_of_the_dashboard(open_tab: OpenTab, site: Site, screenshots: Path) -> None:
    """docs/img/dashboard.png, shown in the README (`make screenshots`): the dashboard live, its five rates, two days
    of history in the chart, a conversion; and the same on a phone."""
    page = open_dashboard(open_tab, site, 1280, 900)
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    expect(page.locator("#live .live-text")).to_have_text("Live")
    expect(page.locator("#convert-result .result")).to_be_visible()
    _chart_request(page, lambda: page.get_by_role("button", name="1 d", exact=True).click())  # the sample's two days
    expect(page.locator("#chart-caption")).to_have_attribute("data-points", "25")
    page.screenshot(path=screenshots / "dashboard.png", full_page=True, animations="disabled")
    width, height = png_size(screenshots / "dashboard.png")
    assert width == 1280 and height >= 900  # the full page, at the width asked
    phone = open_dashboard(open_tab, site, 390, 844)
    expect(phone.locator("#live")).to_have_attribute("data-state", "live")
    phone.screenshot(path=screenshots / "dashboard-phone.png", animations="disabled")
    assert png_size(screenshots / "dashboard-phone.png") == (390, 844)


SAMPLE = '{"a":"x 1.5 \\"2\\" [3]","b":[1.50,-0.0020165355918532,1.25E+4,8e-05,0,495.90],"c":null,"d":{"e":true}}'


def test_numbers_keep_their_published_digits_with_or_without_the_reviver_source(open_tab: OpenTab, site: Site) -> None:
    """Chromium hands the reviver each number's text; the tokenizer used elsewhere must give the same values."""
    page = open_dashboard(open_tab, site)
    bodies = [SAMPLE] + [
        site.get(path).text
        for path in [
            "/rates/latest",
            "/rates/changes?period=7d",
            "/rates/KGS/history?interval=1h",
            "/rates/KZT/history?start=2026-03-30",
            "/convert?from=KZT&to=UZS&amount=1000",
            "/sources",
        ]
    ]
    parsed = page.evaluate(
        """async (bodies) => {
            const fx = await import("/static/fx.js");
            return bodies.map((body) => [fx.parseExact(body), fx.parseExact(body, { tokenizer: true })]);
        }""",
        bodies,
    )
    for body, (reviver, tokenizer) in zip(bodies, parsed, strict=True):
        assert reviver == tokenizer == exact_json(body)
    assert parsed[0][0]["b"] == ["1.50", "-0.0020165355918532", "1.25E+4", "8e-05", "0", "495.90"]


CASES = ["0.0114416", "0.011445", "0.011435", "0.0114450001", "1.25E+4", "8e-05", "-0.087336", "495.90", "0.5", "2.5",
         "0.000005", "9.99999", "-0.000004", "0"]  # fmt: skip


def test_printed_numbers_round_half_to_even_like_the_server(open_tab: OpenTab, site: Site) -> None:
    page = open_dashboard(open_tab, site)
    printed = page.evaluate(
        """async (cases) => {
            const fx = await import("/static/fx.js");
            return cases.map((text) => [fx.plain(text), [0, 1, 2, 5].map((places) => fx.roundTo(text, places))]);
        }""",
        CASES,
    )
    for text, (plain_text, rounded) in zip(CASES, printed, strict=True):
        assert plain_text == plain(text)
        expected = [
            format(Decimal(text).quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN), "f") for places in [0, 1, 2, 5]
        ]
        assert rounded == [value.replace("-0", "0", 1) if Decimal(value) == 0 else value for value in expected]
