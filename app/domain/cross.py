"""Cross rates through USD, on decimals. Pure: the values come in, the numbers go out.

Each side is the exact fraction its source published (USD per unit, or one over units per USD; USD itself is
1/1), so a cross rate, its inverse and a converted amount are each a single division of exact products, rounded
half-even to CROSS_DIGITS significant digits: no error from a rounded intermediate rate is carried into them.
"""

from __future__ import annotations

import decimal
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from app.core.numbers import plain
from app.domain.values import DERIVED_DIGITS, EXACT, Value

CROSS_DIGITS = DERIVED_DIGITS  # 15: as many as a JSON reader's double keeps
MAX_AMOUNT = Decimal(10) ** 15
MIN_AMOUNT = Decimal(10) ** -18  # smaller is no amount of money, and its result would be written with 1,000 zeros
MAX_AMOUNT_TEXT = 64  # characters: an amount is a number, not a document
# The one grammar of an amount, for the parser, the OpenAPI pattern and the docs: ASCII digits, one optional point,
# an optional short exponent (`1000`, `12.5`, `.5`, `1e6`). Python's own Decimal also takes `1_000`, Arabic-Indic
# digits and exponents of any size, which no client means.
AMOUNT_PATTERN = r"^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?$"
AMOUNT_HELP = (
    "A positive decimal from 10^-18 to 10^15 in ASCII digits, with one optional point and an optional exponent "
    "(`1000`, `12.5`, `.5`, `1e6`); no sign, separators or other digits; at most 64 characters"
)
_AMOUNT = re.compile(AMOUNT_PATTERN)

# Products of published values and an amount are exact at this precision (an amount has at most 64 characters).
_PRODUCTS = decimal.Context(
    prec=200, Emin=decimal.MIN_EMIN, Emax=decimal.MAX_EMAX, traps=[decimal.Inexact, decimal.InvalidOperation]
)
_ROUNDED = decimal.Context(
    prec=CROSS_DIGITS, rounding=decimal.ROUND_HALF_EVEN, Emin=decimal.MIN_EMIN, Emax=decimal.MAX_EMAX
)
_ONE = Decimal(1)


class AmountError(ValueError):
    """The amount is not a positive number no larger than MAX_AMOUNT; the message says which."""


def parse_amount(raw: str) -> Decimal:
    text = raw.strip()
    if not text:
        raise AmountError("amount is empty; give a positive number such as 1000 or 12.5")
    if len(text) > MAX_AMOUNT_TEXT:
        raise AmountError(f"amount is {len(text)} characters long; give a number of at most {MAX_AMOUNT_TEXT}")
    if text.lstrip("+-").lower() in ("nan", "snan", "inf", "infinity"):
        raise AmountError(f"amount {raw!r} is not a finite number; give a positive number such as 1000 or 12.5")
    if text.startswith("-") and _AMOUNT.match(text[1:]):
        raise AmountError(f"amount {raw!r} is not positive; give a number greater than 0")
    if not _AMOUNT.match(text):
        raise AmountError(f"amount {raw!r} is not a number; give a positive number such as 1000 or 12.5")
    amount = Decimal(text)
    if amount <= 0:
        raise AmountError(f"amount {raw!r} is not positive; give a number greater than 0")
    if amount > MAX_AMOUNT:
        raise AmountError(f"amount {raw!r} is larger than 10^15 (1000000000000000); give a smaller amount")
    if amount < MIN_AMOUNT:
        raise AmountError(f"amount {raw!r} is smaller than 10^-18 (0.000000000000000001); give a larger amount")
    return amount


def _usd_per_unit(side: Value | None) -> tuple[Decimal, Decimal]:
    """USD per one unit as an exact (numerator, denominator); None is USD itself."""
    if side is None:
        return _ONE, _ONE
    return (side.over, side.value) if side.per_usd else (side.value, _ONE)


def _fraction(source: Value | None, target: Value | None) -> tuple[Decimal, Decimal]:
    """Units of target per unit of source as an exact (numerator, denominator)."""
    source_num, source_den = _usd_per_unit(source)
    target_num, target_den = _usd_per_unit(target)
    return _PRODUCTS.multiply(source_num, target_den), _PRODUCTS.multiply(source_den, target_num)


def cross(amount: Decimal, source: Value | None, target: Value | None) -> tuple[Decimal, Decimal]:
    """(units of target per unit of source, amount in target units); None means USD."""
    numerator, denominator = _fraction(source, target)
    rate = _ROUNDED.divide(numerator, denominator)
    result = _ROUNDED.divide(_PRODUCTS.multiply(amount, numerator), denominator)
    return plain(rate), plain(result)


@dataclass(frozen=True, slots=True)
class Cross:
    """The rate of one currency in units of another, from the two USD legs in force: `in_base` is units of `base`
    per one unit of `quote` (its price in the base), `per_base` units of `quote` per one `base` (the API's
    `rate`), each one division of the exact legs."""

    quote: Value
    base: Value

    @property
    def in_base(self) -> Decimal:
        numerator, denominator = _fraction(self.quote, self.base)
        return plain(_ROUNDED.divide(numerator, denominator))

    @property
    def per_base(self) -> Decimal:
        numerator, denominator = _fraction(self.base, self.quote)
        return plain(_ROUNDED.divide(numerator, denominator))

    def per_base_key(self) -> Fraction:
        """`per_base` as an exact fraction: what a change in percent is measured on."""
        numerator, denominator = _fraction(self.base, self.quote)
        return Fraction(numerator) / Fraction(denominator)

    @property
    def exact_in_base(self) -> Decimal:
        return EXACT.divide(*_fraction(self.quote, self.base))

    @property
    def exact_per_base(self) -> Decimal:
        return EXACT.divide(*_fraction(self.base, self.quote))
