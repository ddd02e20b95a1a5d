"""A page on another origin reads the API with `fetch`, as a dashboard hosted elsewhere would: the default
FX_CORS_ORIGINS (`*`) lets any origin GET the data, and the browser hands the page the answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.conftest import Site, Tab
from tests.support import Upstream

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OpenTab = Callable[..., Tab]


@pytest.fixture
def other_site() -> Iterator[Upstream]:
    """Another site: a second local HTTP server, on another port, so another origin."""
    with Upstream() as server:
        yield server


def test_a_page_on_another_origin_can_fetch_the_latest_rates(
    open_tab: OpenTab, site: Site, other_site: Upstream
) -> None:
    page_url = other_site.serve(
        "/dashboard",
        b'<!doctype html><title>Elsewhere</title><link rel="icon" href="data:,"><h1>Rates from elsewhere</h1>',
        200,
        **{"Content-Type": "text/html; charset=utf-8"},
    )
    tab = open_tab(site)
    page = tab.page
    page.goto(page_url)
    origin = page.evaluate("location.origin")
    assert origin != site.url("").rstrip("/")  # another origin indeed
    answer: dict[str, Any] = page.evaluate(
        """async url => {
            const response = await fetch(url);
            return {status: response.status, etag: response.headers.get("ETag"), body: await response.json()};
        }""",
        site.url("/rates/latest"),
    )
    assert answer["status"] == 200 and answer["etag"]  # ETag is exposed to the page too
    assert [rate["currency"] for rate in answer["body"]["rates"]] == [
        "KGS",
        "KZT",
        "TJS",
        "UZS",
        "TMT",
        "RUB",
        "EUR",
        "CNY",
    ]
    # An error is readable the same way: the page can show the problem's detail.
    problem: dict[str, Any] = page.evaluate(
        "async url => { const r = await fetch(url); return {status: r.status, body: await r.json()}; }",
        site.url("/rates/latest?currencies=GBP"),
    )
    assert problem["status"] == 422 and problem["body"]["type"].endswith("/unknown-currency")
    tab.errors[:] = [error for error in tab.errors if "status of 422" not in error]  # the refusal, as logged
