"""/docs, the interactive API documentation, works with no network: every file it loads comes from the service."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Request, expect

from tests.browser.conftest import Site, Tab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OpenTab = Callable[..., Tab]


def test_the_api_docs_render_from_the_service_alone(open_tab: OpenTab, site: Site) -> None:
    tab = open_tab(site)
    asked: list[str] = []

    def record(request: Request) -> None:
        asked.append(request.url)

    tab.page.on("request", record)
    tab.page.goto(site.url("/docs"))
    expect(tab.page.locator(".swagger-ui .info .title")).to_contain_text("fx-ticker")
    expect(tab.page.locator(".opblock-summary-path").first).to_be_visible()
    # Every operation of the schema is listed (the pages and the stream's long request are outside it too).
    paths = tab.page.locator(".opblock-summary-path").all_inner_texts()
    assert "/v1/rates/latest" in [p.replace("\u200b", "") for p in paths]  # the stable contract
    served = urlsplit(site.url("/")).netloc
    elsewhere = [url for url in asked if urlsplit(url).scheme.startswith("http") and urlsplit(url).netloc != served]
    assert elsewhere == []
    assert any("/static/vendor/swagger-ui/swagger-ui-bundle.js" in url for url in asked)
