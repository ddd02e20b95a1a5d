"""`numbers=string` writes every decimal of a JSON answer as a string of its exact digits, on every JSON endpoint,
the fast path of /rates/latest included, without ever mixing the two forms in a cache; integers stay numbers; a
value other than `number` or `string` is a 422 naming `numbers`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from tests.series import serve
from tests.test_rates_on_date import ALL


def _decimals(value: Any) -> list[Any]:
    """Every rate-like member of an answer (rate, inverse, result, the percentages, …), wherever it sits."""
    found: list[Any] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("rate", "inverse", "result", "amount", "change_pct", "close", "average") and item is not None:
                found.append(item)
            found += _decimals(item)
    elif isinstance(value, list):
        for item in value:
            found += _decimals(item)
    return found


PATHS = [
    "/rates/on/2026-04-02?currencies=KZT,UZS&base=KZT",
    "/rates/at/2026-04-02T12:00",
    "/rates/history?start=2026-04-01&end=2026-04-03&interval=1d&currencies=KZT",
    "/convert?from=KZT&to=UZS&amount=1000&at=2026-04-02T12:00",
    "/frankfurter/v1/2026-04-04?symbols=KZT",
]


def test_every_decimal_is_a_string_of_its_digits_and_the_default_stays_numbers(
    engine: Engine, database_url: str
) -> None:
    with serve(engine, database_url, ALL) as client:
        for path in PATHS:
            join = "&" if "?" in path else "?"
            numbers, text = client.get(path), client.get(f"{path}{join}numbers=string")
            assert numbers.status_code == text.status_code == 200, (path, text.text)
            as_numbers, as_text = _decimals(numbers.json()), _decimals(text.json())
            assert as_numbers and all(isinstance(n, int | float) for n in as_numbers), path
            assert all(isinstance(t, str) for t in as_text), (path, as_text)
            assert [float(t) for t in as_text] == [float(n) for n in as_numbers], path
            assert numbers.headers["etag"] != text.headers["etag"], path
        day = client.get("/rates/on/2026-04-04?currencies=KZT&numbers=string").json()
    assert day["rates"][0]["rate"] == "474.00"  # NBK's digits, as published


def test_latest_and_its_fast_path_keep_the_two_forms_apart(engine: Engine, database_url: str) -> None:
    with serve(engine, database_url, ALL) as client:
        for _ in range(3):  # the route renders each once; the fast path answers the repeats
            text = client.get("/rates/latest?currencies=KZT&base=KZT&numbers=string").json()
            numbers = client.get("/rates/latest?currencies=KZT&base=KZT").json()
            assert text["rates"][0]["rate"] == "1" and numbers["rates"][0]["rate"] == 1


def test_an_unknown_numbers_value_is_a_422_naming_it(engine: Engine, database_url: str) -> None:
    with serve(engine, database_url, ALL) as client:
        wrong = client.get("/rates/latest?numbers=strings")
        clash = client.get("/rates/latest?numbers=string&numbers=number")
    for answer in (wrong, clash):
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["errors"][0]["parameter"] == "numbers"
