"""A published value and its direction: the one type every layer speaks of a rate in. Pure: no I/O.

A source publishes one direction exactly: the ticker prints USD per som, a central bank prints tenge per dollar.
`Value` keeps what was published, as published (the nominal divided out, which is exact), and says which
direction it is. A bank's rate of another currency (tenge per rouble) becomes a value against USD through the
same table's dollar row: the two published numbers are kept, as a ratio (`472.31/5.91`), exact too.
Both directions follow from it, each named for what it is: `in_base` (the currency's price in
the base, USD: USD per one unit) and `per_base` (units of the currency per one USD, what the API serves as `rate`);
the direction the source did not publish is a division and cannot be exact, so it is computed at DERIVED_DIGITS
significant digits.

Two values are the same value when they are the same number in the same direction (`0.01144` and `0.011440`;
the first digits seen are the ones stored): that is what extends a span. Two values are compared as rates
(`same_rate`, `in_base_key`) exactly, by fractions, whatever their directions: that is what a change or a flag
is measured on.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from app.core.numbers import plain

# More than any feed publishes, and few enough (<= 15) that a JSON reader's double keeps every digit.
DERIVED_DIGITS = 15
DERIVED = decimal.Context(prec=DERIVED_DIGITS, rounding=decimal.ROUND_HALF_EVEN)
_PERCENT_STEP = Decimal("0.000001")
# Time-weighted sums and comparisons of rates of either direction are done at this precision: far beyond the
# DERIVED_DIGITS anything is served at, so the rounding of the served figure is the only rounding that shows.
EXACT_DIGITS = 40
EXACT = decimal.Context(prec=EXACT_DIGITS, rounding=decimal.ROUND_HALF_EVEN)
_ONE = Decimal(1)
USD = "USD"  # the code of the currency every stored value is quoted against


def invert(number: Decimal) -> Decimal:
    """1 / number at DERIVED_DIGITS significant digits, spelled plainly (1 / 0.00008 is 12500, not 1.25E+4)."""
    return plain(DERIVED.divide(_ONE, number))


def plain_text(number: Decimal) -> str:
    """The decimal written out in positional notation, digits as they are: never `1.25E+4`, never `7.86E-5`."""
    return format(number, "f")


def percent_change(start: Fraction, end: Fraction) -> Decimal:
    """(end - start) / start * 100 of two exact rates, rounded once, half-even, to six decimal places (finer than
    any feed moves): a change of a derived direction is measured on the exact values, never on their roundings."""
    millionths = round((end - start) / start * 100 * 1_000_000)  # Fraction rounds half to even
    return plain(Decimal(millionths).scaleb(-6).quantize(_PERCENT_STEP) + 0)


@dataclass(frozen=True, slots=True)
class Value:
    """A value as published (`value`), and its direction: `per_usd` True when it is units of the currency per
    one USD (the central banks), False when it is USD per one unit of the currency (the ticker).

    `over` is 1, or, for a currency a bank quotes in its own currency, that published rate: the bank's own
    currency per unit of it. `value` is then the same table's dollar row, so `value / over` is units of the
    currency per one USD (NBK: 472.31 tenge per USD over 5.91 tenge per rouble), and neither direction is
    published: both are derived.
    """

    value: Decimal
    per_usd: bool
    over: Decimal = _ONE

    @classmethod
    def parse(cls, text: str, per_usd: bool) -> Value:
        """A value stored as its published text (`472.31/5.91` for a ratio)."""
        if "/" in text:
            value, over = text.split("/")
            return cls(Decimal(value), per_usd, Decimal(over))
        return cls(Decimal(text), per_usd)

    @classmethod
    def ratio(cls, home_per_usd: Decimal, home_per_unit: Decimal) -> Value:
        """A currency's value against USD from one bank table: its dollar row over the currency's own row."""
        return cls(home_per_usd, True, home_per_unit)

    @property
    def text(self) -> str:
        """The published digits, for storing: `0.01150` stays `0.01150`; a ratio is `472.31/5.91`."""
        if self.over != _ONE:
            return f"{plain_text(self.value)}/{plain_text(self.over)}"
        return plain_text(self.value)

    def __str__(self) -> str:
        return self.text

    @property
    def in_base(self) -> Decimal:
        """USD per one unit of the currency (the ticker's direction)."""
        if self.over != _ONE:
            return plain(DERIVED.divide(self.over, self.value))
        return invert(self.value) if self.per_usd else self.value

    @property
    def per_base(self) -> Decimal:
        """Units of the currency per one USD (the banks' direction, and the API's `rate`)."""
        if self.over != _ONE:
            return plain(DERIVED.divide(self.value, self.over))
        return self.value if self.per_usd else invert(self.value)

    @property
    def exact_in_base(self) -> Decimal:
        """`in_base` at EXACT_DIGITS: for time-weighted sums and comparisons."""
        return EXACT.divide(self.over, self.value) if self.per_usd else self.value

    @property
    def exact_per_base(self) -> Decimal:
        """`per_base` at EXACT_DIGITS."""
        if self.per_usd:
            return self.value if self.over == _ONE else EXACT.divide(self.value, self.over)
        return EXACT.divide(_ONE, self.value)

    def in_base_key(self) -> Fraction:
        """`in_base` as an exact fraction: for ordering and comparing values of either direction."""
        exact = Fraction(self.value) / Fraction(self.over)
        return 1 / exact if self.per_usd else exact

    def per_base_key(self) -> Fraction:
        """`per_base` as an exact fraction."""
        exact = Fraction(self.value) / Fraction(self.over)
        return exact if self.per_usd else 1 / exact

    def same_rate(self, other: Value) -> bool:
        """Whether both say the same rate exactly (0.5 USD per unit is 2 units per USD)."""
        return self.in_base_key() == other.in_base_key()

    def per_base_change_pct(self, previous: Value) -> Decimal:
        """How far `per_base` (the API's `rate`) moved from `previous`'s, in percent of it (six decimals, exact)."""
        return percent_change(previous.per_base_key(), self.per_base_key())

    def in_base_change_pct(self, previous: Value) -> Decimal:
        """How far `in_base` (the ticker's direction) moved from `previous`'s, in percent of it (six decimals)."""
        return percent_change(previous.in_base_key(), self.in_base_key())


DOLLAR = Value(_ONE, per_usd=False)  # the dollar against itself: what a cross through USD divides by for USD
