"""The SQL dialects stop in app/storage: no other module branches on SQLite or PostgreSQL, so the rest of the
engine reads the same on both, and a third database would be one package's work."""

from __future__ import annotations

import ast
from pathlib import Path

from app.storage.migrate import REFILL

APP = Path(__file__).parent.parent / "app"
# The migrations are frozen code of their own; settings only checks that a database URL names a supported backend.
EXEMPT = {APP / "storage", APP / "migrations"}
SETTINGS = APP / "core" / "settings.py"


def _dialect_uses(tree: ast.AST) -> list[str]:
    """Where a module asks which database it runs on: `.dialect.name`, `.dialect.<capability>`, `is_sqlite`,
    or an import of SQLAlchemy's dialect packages."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "dialect":
            found.append(f"line {node.lineno}: .dialect.{node.attr}")
        elif (
            isinstance(node, ast.Name | ast.Attribute) and getattr(node, "id", getattr(node, "attr", "")) == "is_sqlite"
        ):
            found.append(f"line {node.lineno}: is_sqlite")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy.dialects"):
            found.append(f"line {node.lineno}: from {node.module} import")
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module == "sqlalchemy"
            and any(a.name == "dialects" for a in node.names)
        ):
            found.append(f"line {node.lineno}: from sqlalchemy import dialects")
    return found


def test_no_module_outside_storage_reads_the_dialect() -> None:
    offenders = {}
    for path in sorted(APP.rglob("*.py")):
        if any(path.is_relative_to(folder) for folder in EXEMPT) or path == SETTINGS:
            continue
        if uses := _dialect_uses(ast.parse(path.read_text(), str(path))):
            offenders[str(path.relative_to(APP.parent))] = uses
    assert offenders == {}, "ask app.storage.dialect for what differs instead"


def test_the_scan_sees_each_way_of_asking() -> None:
    """The rule above can fail: each form it forbids is found in a sample."""
    sample = (
        "from sqlalchemy.dialects import sqlite\n"
        "from sqlalchemy import dialects\n"
        "if conn.dialect.name == 'sqlite': pass\n"
        "ok = conn.dialect.supports_sane_multi_rowcount\n"
        "if is_sqlite(engine): pass\n"
    )
    assert len(_dialect_uses(ast.parse(sample))) == 5


def test_a_migration_runs_no_code_that_changes_after_it() -> None:
    """A migration keeps doing what it did when it was written: it imports nothing of the service (derived tables
    are refilled after the last one, app.ingest.schema)."""
    versions = sorted((APP / "migrations" / "versions").glob("0*.py"))
    imported = {}
    for path in versions:
        names = [
            node.module if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        ]
        if app_names := [name for name in names if name and (name == "app" or name.startswith("app."))]:
            imported[path.name] = app_names
    assert len(versions) >= 9 and imported == {}


def test_the_migrations_ask_for_the_refill_by_the_name_upgrade_reads() -> None:
    for name in ("0005_rollup_runs.py", "0006_rollup_days.py", "0007_pair_rollups.py"):
        assert f'attributes["{REFILL}"] = True' in (APP / "migrations" / "versions" / name).read_text(), name
