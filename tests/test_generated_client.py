"""A client generated from the served OpenAPI document reads the /v1 shapes: `openapi-python-client` builds a Python
package from `/openapi.json` of a real `fx-ticker serve`, and its generated functions and models read latest rates,
the rates at an instant and the rate for a date (units of the currency per one USD), and an unknown currency as the
documented problem document."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import Engine

from app.core.clock import utcnow
from app.core.jsonenc import iso
from tests.processes import Server, clean_environment
from tests.series import insert_spans, span

pytestmark = pytest.mark.slow

NOW = utcnow().replace(microsecond=0)
# NBK's tenge (units per USD, as the bank publishes) and the ticker's som (USD per som, as it prints).
SPANS = [
    span("KZT", "nbk", "497.51", True, NOW - timedelta(hours=3), NOW - timedelta(minutes=1), effective_date=NOW.date()),
    span("KGS", "ticker", "0.01144", False, NOW - timedelta(hours=1), NOW - timedelta(minutes=1)),
]
KZT, KGS = Decimal("497.51"), Decimal("87.4125874125874")  # 1 / 0.01144 at 15 significant digits
PACKAGE = "fx_ticker_client"
# No post-hooks: the generator would run ruff over the package, which a test has no need of.
CONFIG = "post_hooks: []\n"


@pytest.fixture
def server(engine: Engine, database_url: str, tmp_path: Path) -> Iterator[Server]:
    insert_spans(engine, SPANS)
    env = {"FX_DATABASE_URL": database_url, "FX_ROLE": "api", "FX_METRICS_PORT": "0"}
    with Server(env, tmp_path / "serve.log") as running:
        yield running.wait_healthy()


@pytest.fixture
def generated(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The package generated from the served document, importable; its modules are forgotten afterwards."""
    config = tmp_path / "client.yaml"
    config.write_text(CONFIG)
    generator = Path(sys.executable).parent / "openapi-python-client"
    command = [str(generator), "generate", "--url", f"{server.base_url}/openapi.json", "--config", str(config),
               "--meta", "none", "--output-path", str(tmp_path / "client" / PACKAGE)]  # fmt: skip
    done = subprocess.run(command, env=clean_environment(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    monkeypatch.syspath_prepend(str(tmp_path / "client"))
    yield server.base_url
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


def _by_currency(rates: list[Any]) -> dict[str, Any]:
    return {r.currency: r for r in rates}


def _check(rates: list[Any]) -> None:
    by_currency = _by_currency(rates)
    kzt, kgs = by_currency["KZT"], by_currency["KGS"]
    assert (Decimal(str(kzt.rate)), kzt.pair, kzt.source) == (KZT, "USD/KZT", "nbk")
    assert (Decimal(str(kgs.rate)), kgs.pair, kgs.source) == (KGS, "USD/KGS", "ticker")
    assert Decimal(str(kgs.inverse)) == Decimal("0.01144")


def test_a_generated_client_reads_latest_an_instant_a_date_and_a_problem(generated: str) -> None:
    models = _module("models")
    with _module("client").Client(base_url=generated, raise_on_unexpected_status=True) as client:
        _read(client, models)


def _read(client: Any, models: ModuleType) -> None:

    latest = _module("api.rates.rates_latest").sync(client=client)
    assert isinstance(latest, models.LatestResponse), latest
    assert latest.base == "USD"
    _check(latest.rates)

    at = _module("api.rates.at").sync(iso(NOW), client=client)
    assert isinstance(at, models.RatesAt), at
    _check(at.rates)

    # The ticker's rate for a date is the one in force at the end of the day; in UTC that end is still ahead, as
    # in Bishkek (its own zone) it is not after 18:00 UTC, when the hand-built span would not reach it.
    today = _module("api.rates.on_date").sync(NOW.date().isoformat(), client=client, currencies="KZT,KGS", tz="UTC")
    assert isinstance(today, models.DayRates), today
    assert today.date == NOW.date()
    _check(today.rates)
    assert _by_currency(today.rates)["KZT"].effective_date == NOW.date()

    answer = _module("api.rates.rates_latest").sync_detailed(client=client, currencies="GBP")
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.parsed
    assert isinstance(problem, models.Problem), problem
    assert (problem.status, problem.type_) == (422, "https://fx-ticker.dev/problems/unknown-currency")
    assert "GBP" in problem.detail
