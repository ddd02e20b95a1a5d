"""The dashboard's and the widget's files as shipped: nothing a strict CSP would refuse, the vendored chart library
referred to by its version and shipped with its license. (What they do in a browser: tests/browser/.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.api.routes.web import STATIC, SWAGGER_UI

PAGES = sorted(STATIC.glob("*.html"))
UPLOT = STATIC / "vendor" / "uplot"


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.name)
def test_a_page_has_no_inline_code_for_the_csp_to_refuse(page: Path) -> None:
    html = page.read_text()
    for script in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in script, f"inline script: {script}"
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    assert "javascript:" not in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "everything comes from this origin"


def test_the_pages_and_their_files_are_all_there() -> None:
    assert [page.name for page in PAGES] == ["index.html", "widget.html"]
    for page in PAGES:
        for reference in re.findall(r"(?:src|href)=\"(/static/[^\"?]+)", page.read_text()):
            assert (STATIC / reference.removeprefix("/static/")).is_file(), reference


def test_vendored_uplot_is_referred_to_by_its_own_version_and_ships_its_license() -> None:
    header = (UPLOT / "uPlot.iife.min.js").read_text()[:200]
    match = re.search(r"\(v(\d+\.\d+\.\d+)\)", header)
    assert match, header
    version = match.group(1)
    index = (STATIC / "index.html").read_text()
    # The version is in the URL, so the year-long cache of vendor files ends with an upgrade.
    assert f"/static/vendor/uplot/uPlot.iife.min.js?v={version}" in index
    assert f"/static/vendor/uplot/uPlot.min.css?v={version}" in index
    assert "MIT License" in (UPLOT / "LICENSE").read_text()


def test_vendored_swagger_ui_is_the_version_the_docs_page_names_and_ships_its_license() -> None:
    vendored = STATIC / "vendor" / "swagger-ui"
    assert json.loads((vendored / "package.json").read_text())["version"] == SWAGGER_UI
    assert "Apache License" in (vendored / "LICENSE").read_text()
    assert "swagger-ui" in (vendored / "NOTICE").read_text().lower()
