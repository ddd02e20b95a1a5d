"""Browser tests: Debian's Chromium, driven by playwright, against a real `fx-ticker serve` on a SQLite file.

Playwright's own browser download is not used (and not reachable here): the browser is the `chromium`
package (`apt-get install chromium`; .ci/run installs it when missing). A missing browser fails these tests
rather than skipping them, so CI cannot pass without running them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from app.cli import main
from tests.processes import Server
from tests.support import FIXTURES, SEED_PAGE

CHROMIUM = Path("/usr/bin/chromium")
# Root runs need --no-sandbox; the rest keeps Chromium from calling home (there is no internet here).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'"
)
WIDGET_CSP = DASHBOARD_CSP.replace("frame-ancestors 'none'", "frame-ancestors *")


def exact_json(text: str) -> Any:
    """JSON with every number kept as its text, as the pages keep it."""
    return json.loads(text, parse_float=str, parse_int=str)


def plain(number: str) -> str:
    """A number's digits as the pages print them: no exponent, the published trailing zeros kept."""
    return format(Decimal(number), "f")


def ticker_page(**rates: str) -> bytes:
    """The recorded ticker page with some rates changed: ticker_page(KGS="0.01150")."""
    body = SEED_PAGE.read_text()
    for code, rate in rates.items():
        body = re.sub(rf"{code}/USD = [0-9.]+", f"{code}/USD = {rate}", body)
    return body.encode()


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Site:
    """A served fx-ticker on its own SQLite file, and how to load data into it as an operator would."""

    root: Path
    database_url: str
    server: Server | None = None

    def url(self, path: str) -> str:
        assert self.server is not None
        return self.server.base_url + path

    def get(self, path: str) -> httpx.Response:
        response = httpx.get(self.url(path), timeout=10)
        response.raise_for_status()
        return response

    def json(self, path: str) -> Any:
        return exact_json(self.get(path).text)

    def ingest(
        self, body: bytes | Path, source: str = "ticker", observed_at: datetime | None = None, status: int = 0
    ) -> None:
        """`fx-ticker ingest` (its `main`, in this process: the same command, without a Python start-up each)."""
        path = body if isinstance(body, Path) else self.root / f"page-{len(list(self.root.glob('page-*')))}.txt"
        if not isinstance(body, Path):
            path.write_bytes(body)
        args = ["ingest", str(path), "--source", source]
        if observed_at is not None:
            args += ["--observed-at", iso(observed_at)]
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("FX_DATABASE_URL", self.database_url)
            assert main(args) == status

    def start(self, port: int | None = None) -> Server:
        env = {"FX_DATABASE_URL": self.database_url, "FX_ROLE": "api"}  # api: serves only, never polls the internet
        self.server = Server(env, self.root / "server.log", port=port).wait_healthy()
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def has_stream(self) -> bool:
        with httpx.stream("GET", self.url("/rates/stream"), timeout=5) as response:
            return response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")


@contextmanager
def served(root: Path, load: Callable[[Site], None]) -> Iterator[Site]:
    root.mkdir(parents=True, exist_ok=True)
    site = Site(root, f"sqlite:///{root / 'fx.db'}")
    load(site)
    site.start()
    try:
        yield site
    finally:
        site.stop()


def load_sample(site: Site, now: datetime | None = None) -> None:
    """Two days of ticker pages an hour apart (with a four-hour outage), the banks' recorded feeds, the recorded
    ticker page as the latest, and a garbled NBK answer, so /sources has an error to show."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    site.ingest(FIXTURES / "nbk_get_rates_2026-04-01.xml", "nbk", datetime(2026, 4, 1, 4, tzinfo=UTC))
    site.ingest(FIXTURES / "nbk_get_rates_2026-04-02.xml", "nbk", datetime(2026, 4, 2, 4, tzinfo=UTC))
    site.ingest(FIXTURES / "cbu_all_2026-04-01.json", "cbu", datetime(2026, 4, 1, 4, tzinfo=UTC))
    for hours in range(48, 0, -1):
        if 20 <= hours < 24:
            continue  # the ticker was down for four hours: a gap in the chart
        kgs = Decimal("0.01145") + Decimal("0.00001") * (hours // 8)  # the som slipping, a step every 8 hours
        tjs = ["0.10570", "0.10571", "0.10569", "0.10568"][hours // 6 % 4]
        site.ingest(ticker_page(KGS=str(kgs), TJS=tjs), observed_at=now - timedelta(hours=hours))
    site.ingest(SEED_PAGE, observed_at=now)
    site.ingest(b"<html>Service temporarily unavailable</html>", "nbk", now, status=1)


@pytest.fixture
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshot tests write their pictures: a temporary folder, so a test run leaves the checkout as it
    was; `make screenshots` sets FX_TEST_SCREENSHOTS to docs/img to refresh the README's pictures."""
    asked = os.environ.get("FX_TEST_SCREENSHOTS")
    folder = Path(asked) if asked else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG file, from its header: proof the picture was written whole, at the size asked."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (Debian's package) to run the browser tests")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One served sample for every test that only reads."""
    with served(tmp_path_factory.mktemp("site"), load_sample) as site:
        yield site


@dataclass
class Tab:
    """A page and everything it printed as an error: console errors (CSP violations among them) and exceptions."""

    page: Page
    errors: list[str] = field(default_factory=list)
    # Until the server has /rates/stream, the browser reports its 404: that one error is expected.
    stream_missing: bool = False

    def record(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        if self.stream_missing and "/rates/stream" in where:
            return
        self.errors.append(f"{message.text} ({where})")


@pytest.fixture
def open_tab(chromium: Browser) -> Iterator[Callable[..., Tab]]:
    """open_tab(site, width, height): a fresh browser context; its errors fail the test when it ends.

    A test that serves a site of its own requests that fixture before this one, so that the server outlives
    the pages (a server stopped under an open page is an error in its console)."""
    tabs: list[Tab] = []

    def open_(site: Site, width: int = 1280, height: int = 900, reduced_motion: str = "no-preference") -> Tab:
        context = chromium.new_context(
            viewport={"width": width, "height": height},
            reduced_motion=reduced_motion,  # type: ignore[arg-type]
        )
        tab = Tab(context.new_page(), stream_missing=not site.has_stream())
        tab.page.on("console", tab.record)
        tab.page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
        tabs.append(tab)
        return tab

    yield open_
    for tab in tabs:
        tab.page.context.close()
    errors = [error for tab in tabs for error in tab.errors]
    assert not errors, "the page reported errors:\n" + "\n".join(errors)
