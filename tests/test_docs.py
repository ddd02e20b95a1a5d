"""The documentation tells the truth: about the settings, the sources, the endpoints, and its own links."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

from app.api.app import create_app
from app.sources.registry import SOURCES, settings_class
from tests.support import make_settings

Settings = settings_class()  # with every source's settings

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
# Variables the docs may name that are not settings of the service: the tests' and the benchmarks' own.
NOT_SETTINGS = re.compile(r"FX_(TEST|BENCH)_[A-Z_]+")


def _documented(path: Path) -> dict[str, str]:
    """Every variable shown, set (`FX_X=1`) or left to its computed default (`# FX_X=1`)."""
    pairs = re.findall(r"^(?:# )?(FX_[A-Z_]+)=(.*)$", path.read_text(), flags=re.MULTILINE)
    return dict(pairs)


def _settings() -> set[str]:
    return {f"FX_{name.upper()}" for name in Settings.model_fields}


def test_env_example_lists_every_setting_with_its_default() -> None:
    documented = _documented(ROOT / ".env.example")
    assert set(documented) == _settings()
    defaults = Settings(_env_file=None)
    from_example = Settings(_env_file=ROOT / ".env.example")
    assert from_example == defaults


def test_the_configuration_page_lists_every_setting_and_no_other() -> None:
    text = CONFIGURATION.read_text()
    named = set(re.findall(r"\bFX_[A-Z0-9_]*[A-Z0-9]\b(?!<)", text))
    assert sorted(_settings() - named) == [], "settings missing from docs/configuration.md"
    unknown = {name for name in named - _settings() if not NOT_SETTINGS.fullmatch(name)}
    assert sorted(unknown) == [], "docs/configuration.md names variables that are no settings"


def test_the_defaults_on_the_configuration_page_are_those_of_env_example() -> None:
    """A table row `| FX_X | default | ...` shows the value .env.example gives (which is the code's default)."""
    example = _documented(ROOT / ".env.example")
    rows = re.findall(r"^\| `(FX_[A-Z0-9_]+)` \| `([^`]*)` \|", CONFIGURATION.read_text(), flags=re.MULTILINE)
    assert len(rows) > 30
    assert [(name, shown) for name, shown in rows if example.get(name) != shown] == []


def test_the_sources_page_has_a_row_for_every_source() -> None:
    overview = (DOCS / "sources.md").read_text().split("\n## ")[0]  # the table before the first section
    rows = re.findall(r"^\| `([a-z]+)` \|", overview, flags=re.MULTILINE)
    assert rows == list(SOURCES)


def _sections(text: str) -> dict[str, str]:
    """The `### \\`METHOD /path\\`` sections of docs/api.md, by "METHOD /path"."""
    found: dict[str, str] = {}
    parts = re.split(r"^### `([A-Z]+ /[^`]*)`$", text, flags=re.MULTILINE)
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        found[heading] = body
    return found


def test_the_api_page_documents_every_endpoint_and_parameter(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'fx.db'}", role="api", admin_token="x")
    spec: dict[str, Any] = create_app(settings).openapi()  # the schema of /docs; no database needed
    sections = _sections((DOCS / "api.md").read_text())
    missing = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            name = f"{method.upper()} {path}"
            section = sections.get(name)
            if section is None:
                missing.append(name)
                continue
            for parameter in operation.get("parameters", []):
                word = parameter["name"].lower()
                if word == "symbols" and not path.startswith("/frankfurter/"):
                    continue  # the alias of `currencies`, documented once under Conventions
                if f"`{word}" not in section.lower() and f"{{{word}}}" not in name:
                    missing.append(f"{name}: {parameter['name']}")
    assert missing == []


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE):
        base = _anchor(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        anchors.add(base if count == 0 else f"{base}-{count}")
    return anchors


def test_every_relative_link_resolves() -> None:
    """Every link in README.md and docs/*.md to a file of the repository names one that exists, and every
    `#anchor` into a Markdown page names one of its headings."""
    broken = []
    for page in PAGES:
        text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not ours to check here
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert len(PAGES) >= 6
    assert broken == []


def test_the_architecture_page_names_every_module() -> None:
    """docs/architecture.md's map of the code stays true: every module of the service is named in it."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    start = text.index("### Where things are")
    layout = text[start : text.index("```", text.index("```", start) + 3)]
    modules = [
        path
        for path in sorted((ROOT / "app").rglob("*.py"))
        if path.name != "__init__.py" and "migrations" not in path.parts
    ]
    missing = [str(path.relative_to(ROOT)) for path in modules if not re.search(rf"\b{path.stem}\b", layout)]
    assert missing == []
