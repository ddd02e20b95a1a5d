"""The API keeps to its own OpenAPI schema: schemathesis draws requests from `/openapi.json` (fixed seed,
bounded examples) and sends them to a real `fx-ticker serve`; no answer may be a server error, and every answer
must match what the schema promises for it (status code, content type, body)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app.api.app import create_app
from app.api.problems import KINDS, PROBLEM_JSON
from app.core.clock import utcnow
from app.ingest.pipeline import process
from app.sources import ticker
from app.sources.registry import load_settings
from app.storage.engine import make_engine
from app.storage.migrate import upgrade
from tests.processes import Server
from tests.support import SEED_PAGE


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root: Path = tmp_path_factory.mktemp("schema")
    database_url = f"sqlite:///{root / 'fx.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    for minutes_ago in (90, 0):  # two polls, the last fresh: history, change and /ready have something to say
        when = utcnow() - timedelta(minutes=minutes_ago)
        body = SEED_PAGE.read_bytes().replace(b"0.01144", b"0.01150") if minutes_ago == 0 else SEED_PAGE.read_bytes()
        process(engine, load_settings(database_url=database_url), ticker.SPEC, body, observed_at=when, started_at=when)
    engine.dispose()
    with Server({"FX_DATABASE_URL": database_url, "FX_ROLE": "api"}, root / "serve.log") as server:
        yield server.wait_healthy()
        assert "Traceback" not in server.output()


# The schema the service publishes at /openapi.json (the app builds it without starting). The stream never ends
# by design: its contract is tested in test_stream.py.
SPEC = create_app(load_settings(database_url="sqlite://", role="api")).openapi()
schema = schemathesis.openapi.from_dict(SPEC).exclude(path="/v1/rates/stream")
TYPES = {kind.type for kind in KINDS}


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=30, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_keeps_to_the_schema(case: schemathesis.Case[Any], server: Server) -> None:
    # Every check but one: a request each of whose parameters the schema allows may still break a rule across
    # parameters (base equal to the currency, start after end, tz with raw spans), which OpenAPI cannot state;
    # those 422s have tests of their own (test_bad_params.py, test_views.py).
    case.call_and_validate(
        base_url=server.base_url,
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
        additional_checks=[errors_are_problem_documents],
    )


def errors_are_problem_documents(_ctx: Any, response: Any, _case: Any) -> None:
    """Every 4xx and 5xx is an RFC 9457 problem document (app.api.problems): its content type, the RFC's members,
    a `type` listed in docs/api.md and `status` equal to the answer's."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type")
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type == PROBLEM_JSON, f"{response.status_code} answered as {content_type}"
    document = response.json()
    assert {"type", "title", "status", "detail"} <= document.keys(), document
    assert document["status"] == response.status_code, document
    assert document["type"] in TYPES, document
    for error in document.get("errors", []):
        assert error.keys() == {"parameter", "detail"} and error["parameter"], document


BLANKS = ["", " ", "\t", "\n", "  ", " \t\n"]
# A value each required parameter is happy with, so that a sweep of one parameter reaches its validation.
FILLERS = {
    "when": "2026-02-23T10:00", "currency": "KGS", "from": "KGS", "to": "KZT", "amount": "1000", "date": "2026-02-23",
    "start": "2026-02-20", "period": "2026-02-20..2026-02-23", "base": "USD", "quote": "KZT", "code": "KZT",
}  # fmt: skip


def _blank_requests() -> Iterator[tuple[str, str, str]]:
    """Every GET operation of the published schema, with each of its parameters in turn blank or whitespace (and
    that parameter's name)."""
    for template, operations in SPEC["paths"].items():
        operation = operations.get("get")
        if operation is None or template == "/v1/rates/stream":
            continue
        parameters = [p for p in operation.get("parameters", []) if p["in"] in ("path", "query")]
        for parameter in parameters:
            for blank in BLANKS:
                if parameter["in"] == "path" and not blank:
                    continue  # an empty path segment is another path
                values = {p["name"]: FILLERS.get(p["name"], "") for p in parameters if p.get("required")}
                values[parameter["name"]] = blank
                path = template
                for p in parameters:
                    if p["in"] == "path":
                        path = path.replace("{" + p["name"] + "}", quote(values.pop(p["name"]), safe=""))
                yield path, urlencode(values), parameter["name"]


@pytest.mark.slow
def test_no_blank_or_whitespace_parameter_gets_a_server_error_or_loses_the_connection(server: Server) -> None:
    """Each parameter of each route, blank or whitespace only, on one keep-alive connection: every answer is a
    problem document naming the parameter (or the data asked for) with the security headers, never a 5xx, and
    the server keeps the connection open for the next request."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.connect()
        sock = connection.sock
        asked = 0
        for path, query, name in _blank_requests():
            connection.request("GET", f"{path}?{query}" if query else path)
            response = connection.getresponse()
            body = response.read()
            what = (path, query, response.status, body[:200])
            assert response.status < 500, what
            assert response.getheader("X-Content-Type-Options") == "nosniff", what
            if response.status >= 400:
                assert response.getheader("Content-Type") == PROBLEM_JSON, what
                document = json.loads(body)
                assert document["detail"] and document["type"] in TYPES and document["status"] == response.status
                if response.status == 422:  # a bad parameter: this one (a 404 says the date asked has no data)
                    assert name in [error["parameter"] for error in document["errors"]], what
            assert connection.sock is sock, f"the server closed the connection after {what}"
            asked += 1
        assert asked > 50  # every route's parameters were swept, not a handful
    finally:
        connection.close()


def _get_paths() -> Iterator[tuple[str, bool]]:
    """Every GET operation of the published schema (and the pages beside it), its required parameters filled, and
    whether its answer moves with the clock (a window that ends now by default, so its ETag may change)."""
    yield from ((path, False) for path in ("/", "/widget/ticker", "/docs", "/openapi.json"))
    for template, operations in SPEC["paths"].items():
        operation = operations.get("get")
        if operation is None or template == "/v1/rates/stream":
            continue
        path, query, names = template, {}, set()
        for parameter in operation.get("parameters", []):
            names.add(parameter["name"])
            if parameter["in"] == "path":
                path = path.replace("{" + parameter["name"] + "}", FILLERS[parameter["name"]])
            elif parameter.get("required"):
                query[parameter["name"]] = FILLERS[parameter["name"]]
        moves = bool(names & {"end", "at", "date"}) or template in ("/metrics", "/ready", "/v1/sources")
        moves = moves or template.startswith("/frankfurter/")  # their default date is today
        yield f"{path}?{urlencode(query)}" if query else path, moves


@pytest.mark.slow
def _seconds_apart(first: str | None, second: str | None) -> bool:
    """The same header, but for a `max-age` counting down to the next poll, which may tick between two requests."""
    if first is None or second is None or "max-age=" not in first:
        return first == second
    head, _, age = first.rpartition("max-age=")
    other, _, other_age = second.rpartition("max-age=")
    return head == other and age.isdigit() and other_age.isdigit() and abs(int(age) - int(other_age)) <= 1


def test_every_get_resource_answers_head_with_its_status_and_headers_and_no_body(server: Server) -> None:
    """RFC 9110: HEAD is GET without the body. The stream is asked too: its HEAD ends at once."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        for path, moves in [*_get_paths(), ("/rates/stream", True)]:
            connection.request("HEAD", path)
            head = connection.getresponse()
            assert head.read() == b"", path
            if path == "/rates/stream":
                assert (head.status, head.getheader("Content-Type")) == (200, "text/event-stream; charset=utf-8")
                continue
            connection.request("GET", path)
            get = connection.getresponse()
            get.read()
            assert head.status == get.status, (path, head.status, get.status)
            for name in ("Content-Type", "Content-Length", "ETag", "Cache-Control", "X-Content-Type-Options"):
                if name in ("Content-Length", "ETag") and moves:
                    continue  # a window that ends now, or figures of the moment: the two answers may differ
                assert _seconds_apart(head.getheader(name), get.getheader(name)), (path, name)
    finally:
        connection.close()
    assert 'method="HEAD",route="/v1/rates/{currency}/history",status="200"' in server.get("/metrics").text
