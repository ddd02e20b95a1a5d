"""If-None-Match as RFC 9110 defines it, the same on every path: weak comparison, lists, `*`, tags holding commas,
and a header that is no list of entity tags matching nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine

from app.api.etags import etag_matches
from tests.series import serve


@pytest.mark.parametrize(
    ("header", "etag", "matches"),
    [
        ('"abc"', '"abc"', True),
        ('W/"abc"', '"abc"', True),  # weak comparison: the W/ of either side does not count
        ('"abc"', 'W/"abc"', True),
        ("*", '"anything"', True),
        ('"a", W/"b"', '"b"', True),
        ('"a",,  "b" ,', '"b"', True),  # empty list elements are allowed
        ('"a,b"', '"a,b"', True),  # a comma inside an entity tag is part of it
        ('"a,b"', '"b"', False),
        ('"a"', '"b"', False),
        ("abc", '"abc"', False),  # not an entity tag (no quotes): matches nothing
        ('"a" "b"', '"b"', False),  # not a list
        ('"a", *', '"b"', False),  # `*` only alone
        ("", '"b"', False),
        (None, '"b"', False),
        (b'W/"abc"', b'"abc"', True),  # the fast paths read raw header bytes
    ],
)
def test_if_none_match_follows_rfc_9110(header: str | bytes | None, etag: str | bytes, matches: bool) -> None:
    assert etag_matches(header, etag) is matches


def _forms(etag: str) -> list[str]:
    return [etag, f"W/{etag}", f'"other", W/{etag}', "*"]


PATHS = [
    "/",  # the dashboard: it compared the header as one string, so a weak or listed tag got the page again
    "/widget/ticker",
    "/rates/latest",  # the repeat of a query is answered by the fast path
    "/v1/rates/latest?currencies=KZT",
    "/rates/KZT/history?start=2026-01-01T00:00Z&end=2026-01-01T06:00Z",
]


def test_every_conditional_path_answers_304_to_each_form(engine: Engine, database_url: str) -> None:
    with serve(engine, database_url) as client:
        for path in PATHS:
            first, _ = client.get(path), client.get(path)
            assert first.status_code == 200, (path, first.text)
            for header in _forms(first.headers["etag"]):
                assert _asking(client, path, header).status_code == 304, (path, header)
            assert _asking(client, path, '"not-this-one"').status_code == 200, path


def _asking(client: TestClient, path: str, header: str) -> Response:
    response: Response = client.get(path, headers={"If-None-Match": header})
    return response
