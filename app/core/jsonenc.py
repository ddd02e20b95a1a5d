"""JSON with exact decimals: a Decimal is written as the number it is, never through float."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

from app.core.clock import utc


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, the form every time in the API takes."""
    return utc(moment).isoformat().replace("+00:00", "Z")


# Set for a request that asked for `numbers=string` (app.api.numbers): every Decimal is written as a JSON string of
# its digits, for JavaScript clients whose double would round the 15 significant digits.
DECIMALS_AS_TEXT: ContextVar[bool] = ContextVar("fx_decimals_as_text", default=False)

Number = Callable[[Decimal], str]

# The string encoder json.dumps itself uses (C), without the cost of a dumps call per string: an answer of five
# currencies' year at 1d writes some 20,000 of them.
_string: Callable[[str], str] = encode_basestring_ascii


def _write(value: Any, out: list[str], number: Number) -> None:
    kind = type(value)
    if kind is Decimal:
        out.append(number(value))
    elif kind is str:
        out.append(_string(value))
    elif kind is dict:
        _write_mapping(value, out, number)
    elif kind is list:
        _write_sequence(value, out, number)
    elif isinstance(value, bool) or value is None or isinstance(value, int | str | float):
        out.append(json.dumps(value))
    elif isinstance(value, Decimal):
        out.append(number(value))
    elif isinstance(value, datetime):
        out.append(_string(iso(value)))
    elif isinstance(value, date):
        out.append(_string(value.isoformat()))
    elif isinstance(value, Mapping):
        _write_mapping(value, out, number)
    elif isinstance(value, Sequence):
        _write_sequence(value, out, number)
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _number(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} has no JSON form")
    return format(value, "f")  # never an exponent: 12500, not 1.25E+4


def _text(value: Decimal) -> str:
    return '"' + _number(value) + '"'  # digits, a sign and a point: nothing to escape


def _write_mapping(value: Mapping[Any, Any], out: list[str], number: Number) -> None:
    out.append("{")
    for index, (key, item) in enumerate(value.items()):
        out.append(("," if index else "") + _string(str(key)) + ":")
        _write(item, out, number)
    out.append("}")


def _write_sequence(value: Sequence[Any], out: list[str], number: Number) -> None:
    out.append("[")
    for index, item in enumerate(value):
        if index:
            out.append(",")
        _write(item, out, number)
    out.append("]")


def dumps(value: Any) -> bytes:
    """`value` as JSON; its Decimals as numbers, or as strings while DECIMALS_AS_TEXT is set."""
    out: list[str] = []
    _write(value, out, _text if DECIMALS_AS_TEXT.get() else _number)
    return "".join(out).encode()


def numbers_key() -> str:
    """How this request's decimals are written: part of the key of any body cached for it."""
    return "string" if DECIMALS_AS_TEXT.get() else "number"
