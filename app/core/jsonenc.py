"""JSON with exact decimals: a Decimal is written as the number it is, never through float."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from app.core.clock import utc


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, the form every time in the API takes."""
    return utc(moment).isoformat().replace("+00:00", "Z")


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} has no JSON form")
        out.append(format(value, "f"))  # never an exponent: 12500, not 1.25E+4
    elif isinstance(value, bool) or value is None or isinstance(value, int | str | float):
        out.append(json.dumps(value))
    elif isinstance(value, datetime):
        out.append(json.dumps(iso(value)))
    elif isinstance(value, date):
        out.append(json.dumps(value.isoformat()))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            out.append(("," if index else "") + json.dumps(str(key)) + ":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, Sequence):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps(value: Any) -> bytes:
    out: list[str] = []
    _write(value, out)
    return "".join(out).encode()
