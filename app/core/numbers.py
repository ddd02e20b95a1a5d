"""How a computed decimal is written: without trailing zeros and without an exponent."""

from __future__ import annotations

import decimal
from decimal import Decimal

# Wide enough that normalizing and un-exponenting any rate, amount or result is exact.
_WIDE = decimal.Context(prec=200, Emin=decimal.MIN_EMIN, Emax=decimal.MAX_EMAX)
_ONE = Decimal(1)


def plain(number: Decimal) -> Decimal:
    """0.01150 -> 0.0115 and 1E+3 -> 1000: one spelling per number, whichever backend or division produced it."""
    number = number.normalize(_WIDE)
    exponent = number.as_tuple().exponent
    return number.quantize(_ONE, context=_WIDE) if isinstance(exponent, int) and exponent > 0 else number
