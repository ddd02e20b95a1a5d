"""`make bench` / `make bench-smoke`: the speed targets, measured side by side and recorded.

Each figure is either a ratio measured in one run against a baseline on the same machine (the hot path
against a raw ASGI app under the same load generator, a query against a bare SQL ceiling) or an absolute figure
with a wide margin, because absolute times on a shared two-core machine are noisy. See bench/README.md.

The steps live beside this file: latest.py, history.py, histories.py, ingest.py, tables.py, scale.py, fanout.py,
stalled.py
(harness.py and ceiling.py are what they share).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fanout import bench_stream
from bench.harness import FULL, ROOT, SMOKE, Figure, Size, log, postgres_schema
from bench.histories import histories_postgres, histories_sqlite
from bench.history import bench_history
from bench.ingest import bench_ingest
from bench.latest import bench_latest
from bench.scale import scale_postgres, scale_sqlite
from bench.stalled import stalled_postgres, stalled_sqlite
from bench.tables import bench_tables


def machine() -> str:
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    wrk_version = (
        subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split(" [")[0]
        if shutil.which("wrk")
        else ""
    )
    packages = ", ".join(f"{p} {version(p)}" for p in ("fastapi", "starlette", "uvicorn", "sqlalchemy", "psycopg"))
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory} GB; Python {platform.python_version()}; {packages}; "
        f"{wrk_version.strip() or 'wrk'}"
    )


def record(figures: list[Figure], path: Path, command: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n".join(
        [
            f"## Run of {stamp}",
            "",
            f"Machine: {machine()}.",
            f"Command: `{command}`.",
            "",
            "| what | measured | target | |",
            "|---|---|---|---|",
            *(figure.row() for figure in figures),
            "",
        ]
    )
    header = (
        "# Benchmark results\n\nNewest run first; `make bench` adds a run. Method and commands: bench/README.md.\n\n"
    )
    previous = path.read_text().split("\n## ", 1)[1] if path.exists() and "\n## " in path.read_text() else ""
    path.write_text(header + section + ("\n## " + previous if previous else ""))


STEPS: dict[str, Callable[[Size, Path], list[Figure]]] = {
    "latest": bench_latest,
    "stream": bench_stream,
    "history-sqlite": lambda size, work: bench_history(size, f"sqlite:///{work / 'year.db'}", "SQLite"),
    "ingest-sqlite": lambda size, work: bench_ingest(size, f"sqlite:///{work / 'ingest.db'}", "SQLite"),
    "tables-sqlite": lambda size, work: bench_tables(
        size, (f"sqlite:///{work / 'five.db'}", f"sqlite:///{work / 'tables.db'}"), "SQLite"
    ),
}


def _on_postgres(step: Callable[[Size, str, str], list[Figure]]) -> Callable[[Size, Path], list[Figure]]:
    def run(size: Size, work: Path) -> list[Figure]:
        with postgres_schema() as url:
            return step(size, url, "PostgreSQL")

    return run


STEPS["history-postgres"] = _on_postgres(bench_history)
STEPS["ingest-postgres"] = _on_postgres(bench_ingest)
STEPS["histories-sqlite"] = histories_sqlite


def _tables_postgres(size: Size, work: Path) -> list[Figure]:
    with postgres_schema() as five, postgres_schema() as every:
        return bench_tables(size, (five, every), "PostgreSQL")


STEPS["tables-postgres"] = _tables_postgres
STEPS["histories-postgres"] = histories_postgres
STEPS["scale-sqlite"] = scale_sqlite
STEPS["scale-postgres"] = scale_postgres
STEPS["stalled-sqlite"] = stalled_sqlite
STEPS["stalled-postgres"] = stalled_postgres


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="every benchmark at a tiny size; records nothing")
    parser.add_argument("--only", help=f"comma-separated steps: {', '.join(STEPS)}")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    size = SMOKE if args.smoke else FULL
    steps = args.only.split(",") if args.only else list(STEPS)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="fx-bench-") as work:
        for name in steps:
            log(f"{name} ...")
            figures += STEPS[name](size, Path(work))
    if args.smoke:
        for figure in figures:
            figure.ok = None  # a tiny size says nothing about the targets: smoke only shows every step runs
    width = max(len(f.what) for f in figures)
    for figure in figures:
        verdict = {True: "met", False: "MISSED", None: ""}[figure.ok]
        print(f"{figure.what:<{width}}  {figure.value:>14,.2f} {figure.unit:<7} {figure.target:<28} {verdict}")
    if not args.smoke:
        record(figures, args.results, "make bench" + (f" (only {args.only})" if args.only else ""))
        log(f"recorded in {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
