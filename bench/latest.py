"""The `latest` step: /rates/latest under wrk against a raw ASGI app returning the same bytes (bench/raw_app.py)
on the same uvicorn, then with a matching If-None-Match, and in another base."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx

from bench.harness import Figure, Size, free_port, need_wrk, running, seeded, serve, wrk


def bench_latest(size: Size, work: Path) -> list[Figure]:
    need_wrk()
    database_url = f"sqlite:///{work / 'latest.db'}"
    seeded(database_url)
    app_port, raw_port = free_port(), free_port()
    with serve(database_url, app_port, FX_SOURCE_TICKER_MAX_GAP="86400"):
        url = f"http://127.0.0.1:{app_port}/rates/latest"
        in_kzt = f"{url}?base=KZT"
        answer = httpx.get(url)
        httpx.get(in_kzt).raise_for_status()
        body_file = work / "latest.json"
        body_file.write_bytes(answer.content)
        raw_env = {**os.environ, "BENCH_BODY_FILE": str(body_file)}
        raw_cmd = [sys.executable, "-m", "uvicorn", "bench.raw_app:app", "--port", str(raw_port), "--lifespan", "off",
                   "--no-access-log", "--log-level", "warning"]  # fmt: skip
        with running(raw_cmd, raw_env, raw_port):
            raw_url = f"http://127.0.0.1:{raw_port}/"
            wrk(raw_url, 1), wrk(url, 1), wrk(in_kzt, 1)  # warm up
            raw = wrk(raw_url, size.seconds)
            latest = wrk(url, size.seconds)
            kzt = wrk(in_kzt, size.seconds)
            conditional = wrk(url, size.seconds, {"If-None-Match": answer.headers["etag"]})
    ratio, cond_ratio, kzt_ratio = latest.rps / raw.rps, conditional.rps / raw.rps, kzt.rps / latest.rps
    return [
        Figure(
            "raw ASGI app, same bytes (baseline)", raw.rps, "req/s", f"p50 {raw.p50_ms:.2f} ms, p99 {raw.p99_ms:.2f} ms"
        ),
        Figure("/rates/latest", latest.rps, "req/s", f"p50 {latest.p50_ms:.2f} ms, p99 {latest.p99_ms:.2f} ms"),
        Figure("/rates/latest ÷ raw", ratio, "×", "≥ 0.5", ratio >= 0.5),
        Figure("/rates/latest p99 at 32 connections", latest.p99_ms, "ms", "≤ 10", latest.p99_ms <= 10),
        Figure("/rates/latest?base=KZT", kzt.rps, "req/s", f"p50 {kzt.p50_ms:.2f} ms, p99 {kzt.p99_ms:.2f} ms"),
        Figure("/rates/latest?base=KZT ÷ /rates/latest", kzt_ratio, "×", "≥ 0.9", kzt_ratio >= 0.9),
        Figure("/rates/latest with matching If-None-Match (304)", conditional.rps, "req/s"),
        Figure("304 ÷ raw", cond_ratio, "×", "≥ 0.6", cond_ratio >= 0.6),
    ]
