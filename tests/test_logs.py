"""Logs: one structured line per poll, as text or JSON, with no secrets in it."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys

import pytest

from app.core.logs import JSONFormatter, TextFormatter, redact
from app.ingest import report
from app.ingest.pipeline import Outcome
from app.ingest.report import poll_fields
from app.ingest.store import ApplyResult
from app.storage.engine import make_engine
from tests.support import SEED_PAGE, Upstream


def _record(message: str, **fields: object) -> logging.LogRecord:
    return logging.getLogger("app.ingest.poller").makeRecord(
        "app.ingest.poller", logging.INFO, __file__, 1, message, (), None, extra={"fields": fields}
    )


def test_passwords_in_urls_are_masked() -> None:
    assert redact("postgresql+psycopg://fx:s3cret@db:5432/fx") == "postgresql+psycopg://fx:***@db:5432/fx"
    assert (
        redact("HTTP 502 from https://user:pw@mirror.internal/x?y=1")
        == "HTTP 502 from https://user:***@mirror.internal/x?y=1"
    )
    assert redact("http://mirror.internal:8080/a@b") == "http://mirror.internal:8080/a@b"  # a port is not a password


def test_text_lines_end_with_key_value_pairs() -> None:
    line = TextFormatter().format(_record("poll ticker ok", source="ticker", entries=40, error=None, note="two words"))
    assert line.endswith(' INFO app.ingest.poller: poll ticker ok source=ticker entries=40 error=- note="two words"')


def test_json_lines_carry_the_fields_as_keys() -> None:
    line = JSONFormatter().format(_record("poll ticker error", source="ticker", error="HTTP 404 from http://u:p@h/"))
    document = json.loads(line)
    assert document["level"] == "info" and document["logger"] == "app.ingest.poller"
    assert document["message"] == "poll ticker error"
    assert document["source"] == "ticker"
    assert document["error"] == "HTTP 404 from http://u:***@h/"
    assert document["time"].endswith("Z")


def test_poll_fields_cap_the_error_and_count_the_changes() -> None:
    ok = poll_fields(Outcome("ticker", ok=True, result=ApplyResult(entries_seen=40, opened=5, extended=0)), 0.01234)
    assert ok == {
        "source": "ticker",
        "outcome": "ok",
        "entries": 40,
        "spans_opened": 5,
        "spans_extended": 0,
        "rejections": 0,
        "flags": 0,
        "duration_ms": 12.3,
        "error": None,
    }
    failed = poll_fields(Outcome("nbk", ok=False, error="unparseable response: " + "x" * 5000), 1.0)
    assert failed["outcome"] == "error" and len(failed["error"]) == 300


@pytest.mark.slow
def test_a_poll_logs_one_json_line_without_the_upstream_password(tmp_path: object) -> None:
    with Upstream() as upstream:
        upstream.serve("/page", SEED_PAGE.read_bytes())
        host_port = upstream.url("/").removeprefix("http://").rstrip("/")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FX_")}
        env.update(
            FX_DATABASE_URL=f"sqlite:///{tmp_path}/fx.db",
            FX_SOURCES="ticker,peg",
            FX_SOURCE_TICKER_URL=f"http://reader:upstream-pw@{host_port}/page",
            FX_LOG_FORMAT="json",
        )
        run = subprocess.run(
            [sys.executable, "-m", "app.cli", "poll", "--once"], env=env, capture_output=True, text=True, timeout=60
        )
    assert run.returncode == 0, run.stderr
    assert "upstream-pw" not in run.stderr
    lines = [json.loads(line) for line in run.stderr.splitlines()]  # every line is JSON, alembic's too
    polls = {line["source"]: line for line in lines if line["message"].startswith("poll ")}
    assert set(polls) == {"ticker", "peg"}
    ticker = polls["ticker"]
    assert ticker["outcome"] == "ok" and ticker["entries"] == 40
    assert ticker["spans_opened"] == 5 and ticker["spans_extended"] == 0
    assert ticker["error"] is None and ticker["duration_ms"] > 0
    assert ticker["logger"] == "app.ingest.poller" and ticker["level"] == "info"


@pytest.mark.slow
def test_a_failed_poll_logs_a_warning_in_text_with_the_password_masked(tmp_path: object) -> None:
    with Upstream() as upstream:
        host_port = upstream.url("/").removeprefix("http://").rstrip("/")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FX_")}
        env.update(
            FX_DATABASE_URL=f"sqlite:///{tmp_path}/fx.db",
            FX_SOURCES="ticker",
            FX_SOURCE_TICKER_URL=f"http://reader:upstream-pw@{host_port}/gone",
        )
        run = subprocess.run(
            [sys.executable, "-m", "app.cli", "poll", "--once"], env=env, capture_output=True, text=True, timeout=60
        )
    assert run.returncode == 1
    (line,) = [line for line in run.stderr.splitlines() if "app.ingest.poller: poll ticker" in line]
    assert " WARNING app.ingest.poller: poll ticker error source=ticker outcome=error entries=0 spans_opened=0 " in line
    assert f'error="HTTP 404 from http://reader:***@{host_port}/gone"' in line
    assert "upstream-pw" not in run.stderr


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://u:p4ss@host/x", "https://u:***@host/x"),
        ("GET https://v6.exchangerate-api.com/v6/3f9a0c1e2b7d4a6f8e5c1b2a/latest/USD: refused",
         "GET https://v6.exchangerate-api.com/v6/***/latest/USD: refused"),
        ("https://openexchangerates.org/api/latest.json?app_id=abc&base=USD",
         "https://openexchangerates.org/api/latest.json?app_id=***&base=USD"),
        ("http://h/p?api_key=XYZ&access_token=T&x=1#f", "http://h/p?api_key=***&access_token=***&x=1#f"),
        # What the configured sources fetch today stays as it is: dates, ids and plain words are no secrets.
        ("https://nationalbank.kz/rss/get_rates.cfm?fdate=23.02.2026", None),
        ("https://cbu.uz/en/arkhiv-kursov-valyut/json/all/2026-02-23/", None),
        ("https://www.nbkr.kg/index1.jsp?item=1562&lang=ENG&valuta_id=15", None),
        ("https://www.nbt.tj/en/kurs/export_xml.php?date=2026-02-23&export=xmlout", None),
        ("a sentence with no address, and key=value in it", None),
    ],
)  # fmt: skip
def test_redact_masks_the_secrets_of_a_url_and_nothing_else(text: str, shown: str | None) -> None:
    assert redact(text) == (shown or text)


@pytest.mark.parametrize("step", ["seed", "observe"])
def test_metrics_that_cannot_reach_the_database_log_one_line_without_a_traceback(
    step: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A poll that succeeded just as the database went away then counts its rows for the metrics: the refusal is
    # an outage to wait out, said in one line like every other, not a traceback that reads like a bug.
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/test")
    caplog.set_level(logging.WARNING, logger="app.ingest.report")
    if step == "seed":
        report.seed(engine, ["ticker"])
    else:
        outcome = Outcome("ticker", ok=True, result=ApplyResult(entries_seen=40, opened=5, extended=0))
        report.observe_poll(engine, outcome, 0.01)
    [record] = caplog.records
    assert record.exc_info is None
    assert "database unavailable" in record.getMessage() and "refused" in record.getMessage().lower()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
