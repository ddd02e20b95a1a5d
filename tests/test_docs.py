"""The documentation tells the truth about the settings."""

from __future__ import annotations

import re
from pathlib import Path

from app.sources.registry import settings_class

Settings = settings_class()  # with every source's settings

ROOT = Path(__file__).parent.parent


def _documented(path: Path) -> dict[str, str]:
    """Every variable shown, set (`FX_X=1`) or left to its computed default (`# FX_X=1`)."""
    pairs = re.findall(r"^(?:# )?(FX_[A-Z_]+)=(.*)$", path.read_text(), flags=re.MULTILINE)
    return dict(pairs)


def test_env_example_lists_every_setting_with_its_default() -> None:
    documented = _documented(ROOT / ".env.example")
    fields = {f"FX_{name.upper()}" for name in Settings.model_fields}
    assert set(documented) == fields
    defaults = Settings(_env_file=None)
    from_example = Settings(_env_file=ROOT / ".env.example")
    assert from_example == defaults


def test_readme_mentions_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [f"FX_{n.upper()}" for n in Settings.model_fields if f"FX_{n.upper()}" not in readme]
    assert missing == []
