"""The documented path for a schema change: `db revision` writes the next migration, `db upgrade` applies it,
`db current` tells whether a database is behind the code.

The commands run on a copy of the package, so the new migration lands in the copy's versions folder."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import app
from tests.processes import clean_environment

PACKAGE = Path(app.__file__).parent


def _cli(tree: Path, database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=tree,
        env=clean_environment(PYTHONPATH=str(tree), FX_DATABASE_URL=f"sqlite:///{database}"),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    copy = tmp_path / "src"
    shutil.copytree(PACKAGE, copy / "app", ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@pytest.mark.slow
def test_a_new_migration_is_written_after_the_head_applied_by_upgrade_and_seen_by_current(
    tree: Path, tmp_path: Path
) -> None:
    database = tmp_path / "fx.db"
    versions = tree / "app" / "migrations" / "versions"
    head = max(p.name[:4] for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py"))
    following = f"{int(head) + 1:04d}"

    written = _cli(tree, database, "db", "revision", "-m", "Add a note to the poll log")
    assert written.returncode == 0, written.stderr
    path = versions / f"{following}_add_a_note_to_the_poll_log.py"
    assert str(path) in written.stdout
    script = path.read_text()
    assert f'revision: str = "{following}"' in script
    assert f'down_revision: str | None = "{head}"' in script
    assert script.startswith('"""Add a note to the poll log')

    behind = _cli(tree, database, "db", "current")
    assert (behind.returncode, behind.stdout.strip()) == (1, f"database: empty; code: {following}")

    # What a developer does next: fill in upgrade() and downgrade().
    script = re.sub(r"def upgrade\(\) -> None:\n    pass", _UPGRADE, script)
    path.write_text(re.sub(r"def downgrade\(\) -> None:\n    pass", _DOWNGRADE, script))
    applied = _cli(tree, database, "db", "upgrade")
    assert applied.returncode == 0, applied.stderr

    current = _cli(tree, database, "db", "current")
    assert (current.returncode, current.stdout.strip()) == (0, f"database: {following}; code: {following}")
    with sqlite3.connect(database) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(poll_log)")]
    assert "note" in columns


_UPGRADE = 'def upgrade() -> None:\n    op.add_column("poll_log", sa.Column("note", sa.Text(), nullable=True))'
_DOWNGRADE = 'def downgrade() -> None:\n    op.drop_column("poll_log", "note")'


@pytest.mark.slow
def test_a_revision_without_a_message_names_the_flag(tree: Path, tmp_path: Path) -> None:
    done = _cli(tree, tmp_path / "fx.db", "db", "revision", "-m", "  ")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: -m/--message is empty: say what the migration changes"
    assert not list((tree / "app" / "migrations" / "versions").glob("0*_.py"))
