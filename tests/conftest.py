"""Fixtures: real databases (a SQLite file, and a fresh schema in the real PostgreSQL), recorded upstream bytes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app.core.settings import Settings
from app.storage.engine import make_engine
from app.storage.migrate import upgrade
from tests.support import SEED_PAGE, make_settings

POSTGRES_URL = os.environ.get("FX_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("FX_TEST_REQUIRE_POSTGRES") == "1"
# The databases every database test runs on; `make test-fast` asks for SQLite only (no server to reach).
DATABASES = [name.strip() for name in os.environ.get("FX_TEST_DATABASES", "sqlite,postgresql").split(",")]
# The variables the suite itself reads; every other FX_ variable is cleared so a developer's .env cannot leak in.
_TEST_VARIABLES = {"FX_TEST_POSTGRES_URL", "FX_TEST_REQUIRE_POSTGRES", "FX_TEST_DATABASES", "FX_TEST_SCREENSHOTS"}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("FX_") and name not in _TEST_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # so a .env in the checkout is not read either


def _postgres_schema_url() -> Iterator[str]:
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.connect():
            pass
    except OperationalError as exc:
        admin.dispose()
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required (FX_TEST_REQUIRE_POSTGRES=1) but unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable")
    schema = f"fx_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # Each test gets its own schema: the same isolation as a fresh database, at a fraction of the cost.
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'fx.db'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, role="api")


@pytest.fixture
def seed_page() -> bytes:
    return SEED_PAGE.read_bytes()
