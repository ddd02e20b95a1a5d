"""The production topology of docker-compose.yml, without a container engine.

The compose file is read as written: each service's command (or the image's CMD from the Dockerfile) and its
environment (the env_file, with .env.example standing in for the operator's .env, then `environment:`) start
local processes. Only what a container would get from the compose network is changed: the database is a fresh
schema of the local PostgreSQL, the upstream a local server serving a recorded page, the ports free ones on
127.0.0.1, and the poll intervals seconds instead of minutes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.core.jsonenc import iso
from app.storage.engine import make_engine
from app.storage.models import PollLog, RateSpan
from tests.conftest import _postgres_schema_url
from tests.support import SEED_PAGE, Upstream

ROOT = Path(__file__).parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
# What compose would interpolate from the operator's .env; the database URL is replaced anyway.
COMPOSE_VARIABLES = {"POSTGRES_PASSWORD": "not-used-here"}


def _interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}`, `${NAME:?error}` and `$$`."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        found = variables.get(name)
        if op == ":-" and not found:
            return arg
        if op == ":?" and not found:
            raise AssertionError(f"compose needs {name}: {arg}")
        return found or ""

    return re.sub(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}", one, value)


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {name.strip(): value for name, value in pairs}


def service_environment(name: str) -> dict[str, str]:
    service = COMPOSE["services"][name]
    files = service.get("env_file", [])
    env: dict[str, str] = {}
    for file in [files] if isinstance(files, str) else files:
        # The operator's .env is not in the repository: .env.example is what they copy it from.
        path = ROOT / file
        env.update(_env_file(path if path.exists() and file != ".env" else ROOT / ".env.example"))
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    env.update({key: _interpolate(str(value), COMPOSE_VARIABLES) for key, value in environment.items()})
    return env


def service_command(name: str) -> list[str]:
    command = COMPOSE["services"][name].get("command")
    if command is None:  # the image's default
        (cmd,) = re.findall(r"^CMD (\[.*\])$", DOCKERFILE, flags=re.MULTILINE)
        command = json.loads(cmd)
    if isinstance(command, str):
        command = command.split()
    assert command[0] == "fx-ticker", command
    return [sys.executable, "-m", "app.cli", *command[1:]]  # the console script, from this checkout


# --- the files themselves ---------------------------------------------------------------------------------------


def test_compose_describes_db_api_and_one_poller() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"db", "api", "poller"}
    db = services["db"]
    assert db["image"] == "postgres:16"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    volume = db["volumes"][0].split(":")[0]
    assert volume in COMPOSE["volumes"]  # a named volume, not a directory of the host
    for name, role in (("api", "api"), ("poller", "poller")):
        service = services[name]
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        assert service["restart"] == "unless-stopped"
        assert service["env_file"] == ".env"
        env = service_environment(name)
        assert env["FX_ROLE"] == role
        assert env["FX_DATABASE_URL"].startswith("postgresql://") and "@db:5432/" in env["FX_DATABASE_URL"]
        assert env["FX_HOST"] == "0.0.0.0" and env["FX_PORT"] == "8000"
        assert (env["FX_METRICS_HOST"], env["FX_METRICS_PORT"]) == ("0.0.0.0", "9464")
        assert "9464" in service["expose"]  # for Prometheus on the compose network, never published
        assert service_command(name)[-1] == "serve"
    assert int(service_environment("api")["FX_WORKERS"]) >= 2
    assert services["api"]["ports"] == ["${API_PORT:-8000}:8000"]
    assert services["poller"]["deploy"]["replicas"] == 1
    assert "ports" not in services["poller"]


def test_dockerfile_is_multi_stage_slim_non_root_with_a_health_check() -> None:
    assert re.findall(r"^FROM (\S+)", DOCKERFILE, flags=re.MULTILINE) == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim-\w+$", DOCKERFILE, flags=re.MULTILINE)
    assert re.search(r"^USER 10001:10001$", DOCKERFILE, flags=re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*\n.*/health", DOCKERFILE, flags=re.MULTILINE)
    assert 'CMD ["fx-ticker", "serve"]' in DOCKERFILE
    assert "COPY --from=builder /opt/fx-ticker /opt/fx-ticker" in DOCKERFILE


def test_the_build_context_holds_what_the_dockerfile_copies_and_never_env() -> None:
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*"  # everything out, then only what is named back in
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {
        source.rstrip("/")
        for args in re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, flags=re.MULTILINE)
        for source in args.split()
    }
    assert copied == allowed
    assert not any(name.startswith((".env", "var")) for name in allowed)
    # The image installs the pinned versions before the package itself, which brings no dependencies of its own.
    assert DOCKERFILE.index("-r requirements/app.lock") < DOCKERFILE.index("--no-deps .")


# --- the topology, running --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """One compose service started as a local process."""

    def __init__(self, name: str, database_url: str, upstream_url: str, log: Path) -> None:
        self.name = name
        self.port = _free_port()
        self.metrics_port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FX_")}
        env.update(service_environment(name))
        env.update(
            FX_DATABASE_URL=database_url,  # the `db` service
            FX_HOST="127.0.0.1",
            FX_PORT=str(self.port),
            FX_METRICS_HOST="127.0.0.1",  # compose's 0.0.0.0 is the container's network, here the host's
            FX_METRICS_PORT=str(self.metrics_port),
            FX_WORKERS=str(min(int(env.get("FX_WORKERS", "1")), 2)),  # 2 of the 4 are enough to show it
            FX_SOURCES="ticker,peg",
            FX_SOURCE_TICKER_URL=upstream_url,
            FX_SOURCE_TICKER_INTERVAL="1",
            FX_SOURCE_TICKER_MAX_GAP="30",
            FX_SOURCE_PEG_INTERVAL="1",
            FX_SOURCE_PEG_MAX_GAP="30",
            FX_POLL_JITTER="0",
            FX_REFRESH_SECONDS="0.3",
            FX_LOG_LEVEL="warning",
        )
        self.workers = int(env["FX_WORKERS"])
        self.log = log
        with log.open("ab") as sink:
            self.process = subprocess.Popen(service_command(name), env=env, stdout=sink, stderr=sink)
        self.pid = self.process.pid

    def get(self, path: str, **headers: str) -> httpx.Response:
        # A new connection each time, so that the kernel may hand it to any of the workers.
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", headers={"Connection": "close", **headers}, timeout=5)

    def metrics(self) -> str:
        """A scrape of the metrics port (FX_METRICS_PORT), as Prometheus does on the compose network."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        response = httpx.get(url, headers={"Connection": "close"}, timeout=5)
        assert response.status_code == 200
        return response.text

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"{self.name} exited:\n{self.log.read_text()[-3000:]}"
            try:
                if self.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{self.name} did not start:\n{self.log.read_text()[-3000:]}"
            time.sleep(0.2)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_schema_url()


def _polls(engine: Engine) -> list[PollLog]:
    with Session(engine) as session:
        return list(session.exec(select(PollLog).order_by(col(PollLog.id))))


def _spans(engine: Engine) -> list[RateSpan]:
    with Session(engine) as session:
        return list(session.exec(select(RateSpan).order_by(col(RateSpan.id))))


def _wait(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.2)


def _nothing_lost(engine: Engine) -> dict[tuple[str, str], int]:
    """Every successful poll is in every span it touched, and no span is duplicated: for each source, each of
    its series has exactly one span (the rate never changes here and no gap exceeds the max gap), whose
    observations count exactly that source's successful polls. Read while no poller runs."""
    polls, spans = _polls(engine), _spans(engine)
    succeeded = {
        source: sum(1 for p in polls if p.source == source and p.outcome == "ok") for source in ("ticker", "peg")
    }
    assert not [p for p in polls if p.outcome != "ok"], [(p.source, p.outcome, p.error) for p in polls]
    series = [(s.currency, s.source) for s in spans]
    assert len(series) == len(set(series)) == 6, series  # five from the ticker, TMT from the peg
    for span in spans:
        assert span.observations == succeeded[span.source], (span.currency, span.source)
    return {(s.currency, s.source): s.observations for s in spans}


def _one_answer(apis: list[Service], requests_each: int) -> tuple[bytes, str]:
    answers = {
        (r.content, r.headers["etag"]) for api in apis for r in (api.get("/rates/latest") for _ in range(requests_each))
    }
    assert len(answers) == 1, answers
    return answers.pop()


def _sample(metrics: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


@pytest.mark.slow
def test_compose_topology_one_poller_agreeing_apis_and_a_poller_restart(postgres_url: str, tmp_path: Path) -> None:
    host = socket.gethostname()
    engine = make_engine(postgres_url)
    with Upstream() as upstream, ExitStack() as running:
        url = upstream.serve("/", SEED_PAGE.read_bytes())

        def start(name: str) -> Service:
            service = Service(name, postgres_url, url, tmp_path / f"{name}-{len(list(tmp_path.iterdir()))}.log")
            running.callback(service.stop)
            return service

        # Started together, as compose does once `db` is healthy: each one's `serve` migrates first, in turn.
        poller, apis = start("poller"), [start("api"), start("api")]
        for service in (poller, *apis):
            service.wait_ready()
        assert [api.workers for api in apis] == [2, 2]
        _wait(lambda: sum(p.source == "ticker" for p in _polls(engine)) >= 3)

        # Only the poller polls; the API processes only read.
        assert {p.poller for p in _polls(engine)} == {f"{host}:{poller.pid}"}
        assert _sample(poller.metrics(), "fx_polls_total", source="ticker", outcome="ok") >= 3
        assert apis[0].get("/rates/latest").status_code == 200

        # The poller stops mid-run (it polls every second): SIGTERM lets the poll in flight finish.
        assert poller.stop() == 0
        before_restart = _nothing_lost(engine)
        time.sleep(1)  # every API process notices the last write (FX_REFRESH_SECONDS=0.3)
        # With no poller, the API keeps serving, and every process (and worker) gives the same bytes and ETag.
        body, etag = _one_answer(apis, requests_each=4)
        served = json.loads(body)
        assert [r["currency"] for r in served["rates"]] == ["KGS", "KZT", "TJS", "UZS", "TMT"]
        assert served["as_of"] == iso(max(s.last_seen for s in _spans(engine)))  # the last poll's data
        assert apis[1].get("/rates/latest", **{"If-None-Match": etag}).status_code == 304

        # A new poller takes over where the old one stopped.
        restarted = start("poller")
        restarted.wait_ready()
        mine = f"{host}:{restarted.pid}"
        _wait(
            lambda: all(sum(p.poller == mine and p.source == s for p in _polls(engine)) >= 3 for s in ("ticker", "peg"))
        )
        assert restarted.stop() == 0
        after_restart = _nothing_lost(engine)
        assert after_restart.keys() == before_restart.keys()  # the same spans, extended: no duplicate opened
        assert all(after_restart[key] >= before_restart[key] + 3 for key in after_restart), (
            before_restart,
            after_restart,
        )
        assert {p.poller for p in _polls(engine)} == {f"{host}:{poller.pid}", f"{host}:{restarted.pid}"}

        time.sleep(1)
        body_after, etag_after = _one_answer(apis, requests_each=4)
        assert etag_after != etag and json.loads(body_after)["as_of"] > served["as_of"]

        # /metrics of a 2-worker API process adds up both workers: every request made to it is counted.
        made = 1 + 4 + 4  # /rates/latest answered 200 by apis[0] so far
        assert apis[0].get("/metrics").status_code == 404  # not on the public port
        metrics = apis[0].metrics()
        assert _sample(metrics, "fx_http_requests_total", route="/rates/latest", method="GET", status="200") == made
        assert _sample(metrics, "fx_info", version="0.1.0", role="api") == 1
        assert _sample(metrics, "fx_polls_total", source="ticker", outcome="ok") == 0  # an API process never polls

        for api in apis:
            assert api.stop() == 0
    engine.dispose()
