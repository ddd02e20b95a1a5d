"""Every command that needs the database, started without one: one line that says which and why, and a failure."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL
from tests.faults import TcpProxy
from tests.processes import clean_environment, free_port
from tests.support import SEED_PAGE

PASSWORD = "s3cret-pass"
COMMANDS = {
    "serve": ["serve", "--port", "0"],
    "poll": ["poll", "--once"],
    "ingest": ["ingest", str(SEED_PAGE), "--source", "ticker"],
    "backfill": ["backfill", "--source", "peg", "--from", "2026-01-01", "--to", "2026-01-02"],
    "db upgrade": ["db", "upgrade"],
    "db current": ["db", "current"],
}


def _run(command: list[str], database_url: str, **env: str) -> tuple[int, list[str], float]:
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *command],
        env=clean_environment(FX_DATABASE_URL=database_url, FX_SOURCES="ticker,peg", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return done.returncode, lines, time.monotonic() - began


def _unreachable(kind: str, tmp_path: Path) -> str:
    if kind == "postgresql":  # nothing listens on the port: connection refused
        return f"postgresql://fx:{PASSWORD}@127.0.0.1:{free_port()}/fx"
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    return f"sqlite:///{blocker / 'fx.db'}"  # a directory that cannot exist: the file cannot be opened


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
@pytest.mark.parametrize("command", COMMANDS)
def test_an_unreachable_database_is_one_line_naming_it_and_a_failure(command: str, kind: str, tmp_path: Path) -> None:
    code, lines, _ = _run(COMMANDS[command], _unreachable(kind, tmp_path))
    assert code != 0
    assert len(lines) == 1, "\n".join(lines[:40])
    (line,) = lines
    assert line.startswith("error: ") and "FX_DATABASE_URL" in line
    if kind == "postgresql":
        assert PASSWORD not in line and "fx:***@127.0.0.1" in line
        assert "refused" in line.lower()
    else:
        assert "a-file does not exist" in line


@pytest.mark.slow
@pytest.mark.parametrize("command", ["serve", "db upgrade"])
def test_a_frozen_database_is_given_up_on_after_the_timeout(command: str) -> None:
    with TcpProxy.in_front_of(POSTGRES_URL) as proxy:
        proxy.freeze()  # connections are accepted, and then nothing ever answers
        code, lines, seconds = _run(COMMANDS[command], proxy.url_for(POSTGRES_URL), FX_DB_TIMEOUT="2")
    assert code != 0
    assert len(lines) == 1 and "FX_DATABASE_URL" in lines[0] and "timeout" in lines[0].lower(), lines[:40]
    assert seconds < 20


@pytest.mark.slow
def test_a_mistyped_sqlite_directory_is_an_error_not_a_new_empty_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'vra' / 'fx.db'}"  # a typo for var
    run = subprocess.run(
        [sys.executable, "-m", "app.cli", "db", "upgrade"],
        env=clean_environment(FX_DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert run.returncode == 4, run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert f"the directory {tmp_path / 'vra'} does not exist" in line
    assert not (tmp_path / "vra").exists()


@pytest.mark.slow
def test_the_default_directory_is_made(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "app.cli", "db", "upgrade"],
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "var" / "fx-ticker.db").is_file()
