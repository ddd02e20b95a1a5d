"""Frankfurter's own client libraries from PyPI, unchanged but for their base URL, read latest rates, a date, a range,
the currencies and a single pair from a real `fx-ticker serve` (over HTTPS: `frankfurter` speaks nothing else).

`frankfurter` keeps its host and path in `frankfurter.engine.BASE_URL`; `forex-python` (written for a Frankfurter
mirror) in `CurrencyRates._source_url`. Both trust the test's certificate through the environment, as any client
would trust a private CA."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import frankfurter.engine
import httpx
import pytest
from forex_python.converter import CurrencyRates
from frankfurter import FrankfurterEngine
from sqlalchemy import Engine

from app.core.clock import utcnow
from tests.processes import Server, wait_for
from tests.series import insert_spans, span
from tests.test_rates_on_date import ALL

pytestmark = pytest.mark.slow

NOW = utcnow().replace(microsecond=0)
# Today: NBK's fixing (units per USD, as the bank publishes) and the ticker's som (USD per som, as it prints).
TODAY = [
    span("KZT", "nbk", "497.51", True, NOW - timedelta(hours=3), NOW - timedelta(minutes=1), effective_date=NOW.date()),
    span("KGS", "ticker", "0.01144", False, NOW - timedelta(hours=1), NOW - timedelta(minutes=1)),
]


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def server(
    engine: Engine, database_url: str, tmp_path: Path, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    cert, key = certificate
    insert_spans(engine, ALL + TODAY)
    env = {"FX_DATABASE_URL": database_url, "FX_ROLE": "api", "FX_TLS_CERTFILE": str(cert), "FX_TLS_KEYFILE": str(key)}
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # urllib's default context (frankfurter)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # requests (forex-python)
    with Server(env, tmp_path / "serve.log") as running:
        url = f"https://127.0.0.1:{running.port}/health"
        trusting = ssl.create_default_context(cafile=str(cert))

        def healthy() -> bool:
            assert running.process.poll() is None, running.output()
            try:
                return httpx.get(url, verify=trusting, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 30, "the HTTPS server to answer /health")
        yield running


def test_frankfurter_reads_latest_a_date_a_range_currencies_and_converts(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(frankfurter.engine, "BASE_URL", f"127.0.0.1:{server.port}/frankfurter/v1")
    client = FrankfurterEngine()

    currencies = client.fetch_currencies()
    assert {"USD", "KGS", "KZT", "TJS", "UZS", "TMT"} <= set(currencies)

    latest = client.fetch_latest_data(base="USD", symbols="KZT,KGS")
    assert latest["base"] == "USD" and latest["amount"] == 1
    assert latest["rates"]["KZT"] == 497.51  # tenge per dollar, as NBK published it
    assert Decimal(str(latest["rates"]["KGS"])) == Decimal("87.4125874125874")  # som per dollar: 1 / 0.01144

    on_date = client.fetch_data_for_date("2026-04-02", base="USD", symbols="KZT")
    assert (on_date["date"], on_date["rates"]) == ("2026-04-02", {"KZT": 473.1})

    series = client.fetch_time_series_data(base="USD", symbols="KZT", start_date="2026-04-03", end_date="2026-04-06")
    assert series["rates"] == {
        "2026-04-03": {"KZT": 474},
        "2026-04-04": {"KZT": 474},  # the weekend carries Friday's fixing
        "2026-04-05": {"KZT": 474},
        "2026-04-06": {"KZT": 475.5},
    }
    assert (series["start_date"], series["end_date"]) == ("2026-04-03", "2026-04-06")

    assert client.convert_currency(100, "USD", "KZT") == pytest.approx(49751)


def test_forex_python_reads_rates_a_pair_and_converts_on_a_date(server: Server) -> None:
    class FxTicker(CurrencyRates):  # type: ignore[misc]  # the library's own way to point it elsewhere: its source URL
        def _source_url(self) -> str:
            return f"https://127.0.0.1:{server.port}/frankfurter/v1/"

    rates = FxTicker(force_decimal=True)
    assert rates.get_rate("USD", "KZT") == Decimal("497.51")
    assert rates.get_rate("USD", "KZT", date(2026, 4, 1)) == Decimal("472.31")
    assert rates.get_rate("USD", "KZT", date(2026, 4, 4)) == Decimal("474.00")  # carried from Friday
    day = rates.get_rates("USD", date(2026, 4, 2))
    assert day["KZT"] == Decimal("473.10") and day["UZS"] == Decimal("12142.10")
    # Tenge per sum on 2 April, from CBU's and NBK's fixings for that date:
    assert rates.get_rate("UZS", "KZT", date(2026, 4, 2)) == Decimal("0.0389636059660191")
    assert rates.convert("USD", "KZT", Decimal("100"), date(2026, 4, 1)) == Decimal("47231.00")
