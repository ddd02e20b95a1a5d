"""ExchangeRate-API open access: JSON numbers kept as published, the update day, the error answer."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.domain.quotes import Quote
from app.domain.values import Value
from app.sources import erapi
from app.sources.base import ParseError

FIXTURES = Path(__file__).parent.parent / "fixtures"
SEEN = datetime(2024, 8, 19, 10, 0, tzinfo=UTC)
RECORDED = (FIXTURES / "erapi_latest_usd_2024-08-19.json").read_bytes()
NEXT_UPDATE = datetime(2024, 8, 20, 0, 6, 21, tzinfo=UTC)  # its time_next_update_utc


def edited(**changes: Any) -> bytes:
    """The recorded response with top-level fields replaced (None removes the field)."""
    doc = json.loads(RECORDED)
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return json.dumps(doc).encode()


def with_rates(rates_json: str) -> bytes:
    """The recorded response with its `rates` object replaced by this JSON text (kept verbatim)."""
    head, _ = RECORDED.split(b'"rates":', 1)
    return head + b'"rates":' + rates_json.encode() + b"}"


def test_recorded_response_gives_every_currency_as_published() -> None:
    quotes = erapi.parse(RECORDED, SEEN)
    assert {q.currency: str(q.value) for q in quotes} == {
        "AED": "3.6725",
        "KGS": "85.734152",
        "KZT": "478.947251",
        "TJS": "10.605885",
        "UZS": "12707.572003",
        "TMT": "3.500532",
    }
    # USD (1) is in `rates` too: every value is against it. Which are stored is the served set's choice.
    kgs = Value(Decimal("85.734152"), per_usd=True)
    assert quotes[1] == Quote("KGS", "erapi", kgs, SEEN, date(2024, 8, 19), next_update=NEXT_UPDATE)
    assert {(q.source, q.value.per_usd, q.observed_at, q.effective_date, q.next_update) for q in quotes} == {
        ("erapi", True, SEEN, date(2024, 8, 19), NEXT_UPDATE)
    }


def test_the_announced_next_update_is_kept() -> None:
    """`time_next_update_*`: the value is fresh until then (app.domain.freshness); either stamp will do."""
    assert {q.next_update for q in erapi.parse(edited(time_next_update_unix=None), SEEN)} == {NEXT_UPDATE}
    assert {q.next_update for q in erapi.parse(edited(time_next_update_utc=None), SEEN)} == {NEXT_UPDATE}
    unannounced = edited(time_next_update_unix=None, time_next_update_utc=None)
    assert {q.next_update for q in erapi.parse(unannounced, SEEN)} == {None}


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"time_next_update_unix": 1724198781}, "time_next_update_unix and time_next_update_utc disagree"),
        ({"time_next_update_utc": "tomorrow"}, "time_next_update_utc 'tomorrow' is not an RFC 822 date"),
        ({"time_next_update_unix": "soon"}, "time_next_update_unix 'soon' is not a whole number of seconds"),
    ],
)
def test_a_bad_announced_next_update_is_refused(changes: dict[str, Any], error: str) -> None:
    with pytest.raises(ParseError, match=error):
        erapi.parse(edited(**changes), SEEN)


def test_digits_a_float_would_change_are_kept() -> None:
    (quote,) = erapi.parse(with_rates('{"USD":1,"KZT":478.94725100000000001}'), SEEN)
    assert quote.value.text == "478.94725100000000001"


def test_only_iso_currencies_are_returned() -> None:
    quotes = erapi.parse(with_rates('{"USD":1,"EUR":0.9054,"TMT":3.5,"XYZ":2}'), SEEN)
    assert [(q.currency, q.value.value) for q in quotes] == [("EUR", Decimal("0.9054")), ("TMT", Decimal("3.5"))]


def test_no_currency_is_refused() -> None:
    with pytest.raises(ParseError, match="no ISO 4217 currency in `rates`"):
        erapi.parse(with_rates('{"USD":1,"XYZ":2}'), SEEN)


def test_error_result_is_refused_with_its_reason() -> None:
    body = b'{"result":"error","error-type":"unsupported-code"}'
    with pytest.raises(ParseError, match="result is 'error', not 'success' \\(unsupported-code\\)"):
        erapi.parse(body, SEEN)


def test_other_base_currency_is_refused() -> None:
    with pytest.raises(ParseError, match="base_code is 'EUR'"):
        erapi.parse(edited(base_code="EUR"), SEEN)


@pytest.mark.parametrize(
    ("rates_json", "message"),
    [
        ('{"KGS":-85.73}', "KGS: rate -85.73 is not a positive"),
        ('{"KGS":0}', "KGS: rate 0 is not a positive"),
        ('{"KGS":NaN}', "KGS: rate NaN is not a positive finite"),
        ('{"KGS":Infinity}', "KGS: rate Infinity is not a positive finite"),
        ('{"KGS":"85.73"}', "KGS: rate '85.73' is not a JSON number"),
        ('{"KGS":null}', "KGS: rate None is not a JSON number"),
        ('{"USD":2,"KGS":85.73}', "rates.USD is Decimal\\('2'\\), not 1"),
        ("[85.73]", "no `rates` object"),
    ],
)
def test_bad_rates_are_refused(rates_json: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        erapi.parse(with_rates(rates_json), SEEN)


def test_effective_date_from_either_stamp() -> None:
    (only_unix,) = {q.effective_date for q in erapi.parse(edited(time_last_update_utc=None), SEEN)}
    (only_utc,) = {q.effective_date for q in erapi.parse(edited(time_last_update_unix=None), SEEN)}
    assert only_unix == only_utc == date(2024, 8, 19)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"time_last_update_unix": None, "time_last_update_utc": None}, "no time_last_update"),
        ({"time_last_update_unix": 1724025751 + 86400}, "disagree"),
        ({"time_last_update_unix": "1724025751"}, "not a whole number of seconds"),
        ({"time_last_update_unix": 10**30}, "out of range"),
        ({"time_last_update_utc": "yesterday"}, "not an RFC 822 date"),
    ],
)
def test_bad_update_stamps_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ParseError, match=message):
        erapi.parse(edited(**changes), SEEN)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (RECORDED[:-60], "not valid JSON"),
        (b"<html><body>429 Too Many Requests</body></html>", "not valid JSON"),
        (b"[]", "expected a JSON object"),
        (b"\xff\xfe\xfa", "not valid JSON"),
    ],
    ids=["empty", "truncated", "html", "array", "binary"],
)
def test_malformed_body_is_a_parse_error(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        erapi.parse(body, SEEN)


def test_spec() -> None:
    spec = erapi.SPEC
    assert (spec.name, spec.default_url, spec.dated) == (
        "erapi",
        "https://open.er-api.com/v6/latest/USD",
        False,
    )
    assert (spec.authoritative_for, spec.default_interval_seconds) == ((), 3600)
