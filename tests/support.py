"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.settings import Settings, load_settings

FIXTURES = Path(__file__).parent / "fixtures"
SEED_PAGE = FIXTURES / "ticker-page-2026-02-23.txt"


def at(text: str) -> datetime:
    """A UTC instant from `2026-02-23T10:00`."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    return load_settings(database_url=database_url, **overrides)
