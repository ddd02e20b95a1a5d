"""The SQL dialects stop in app/storage: no other module branches on SQLite or PostgreSQL, so the rest of the
engine reads the same on both, and a third database would be one package's work."""

from __future__ import annotations

import ast
from pathlib import Path

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
