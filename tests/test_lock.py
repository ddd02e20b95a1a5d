"""The lock files pin every dependency pyproject.toml declares, inside its declared range, and agree with each other:
what the image installs (app.lock) is what CI and `make` test (dev.lock). `make lock` refreshes both."""

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins(name: str) -> dict[str, set[Version]]:
    """Package → pinned versions (a universal lock may pin one per Python version, behind a marker)."""
    found: dict[str, set[Version]] = {}
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        if line and not line.startswith((" ", "#", "-")):
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", line
            found.setdefault(canonicalize_name(requirement.name), set()).add(Version(spec.version))
    return found


@pytest.mark.parametrize(
    ("lock", "declared"),
    [
        ("app.lock", PROJECT["dependencies"]),
        ("dev.lock", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"]),
    ],
)
def test_every_declared_dependency_is_pinned_inside_its_range(lock: str, declared: list[str]) -> None:
    pinned = pins(lock)
    for line in declared:
        requirement = Requirement(line)
        versions = pinned.get(canonicalize_name(requirement.name))
        assert versions, f"{requirement.name} is declared in pyproject.toml but not pinned in {lock}: run `make lock`"
        assert all(requirement.specifier.contains(v, prereleases=True) for v in versions), (requirement, versions)


def test_the_image_and_the_tests_install_the_same_versions() -> None:
    app, dev = pins("app.lock"), pins("dev.lock")
    assert {name: dev[name] for name in app} == app
