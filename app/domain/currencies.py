"""Currencies by ISO 4217 code: which codes exist, their English names and minor-unit digits, from CLDR's data as
babel ships it (a maintained table, where a hand-written one would drift), and the set served by default."""

from __future__ import annotations

from functools import cache

from babel.numbers import get_currency_name, get_currency_precision, list_currencies

# The five the service began with, and the three the region's money moves in (remittances, trade, savings).
DEFAULT_SERVED: tuple[str, ...] = ("KGS", "KZT", "TJS", "UZS", "TMT", "RUB", "EUR", "CNY")


@cache
def _codes() -> frozenset[str]:
    return frozenset(list_currencies())


def known(code: str) -> bool:
    """Whether `code` is an ISO 4217 currency code (current or historic, as CLDR lists them)."""
    return code in _codes()


@cache
def name(code: str) -> str:
    """The currency's English name ('Kazakhstani Tenge'); the code itself when CLDR has none."""
    return str(get_currency_name(code, locale="en"))


@cache
def minor_digits(code: str) -> int:
    """How many decimal places the currency's minor unit has (2 for most, 0 for JPY, 3 for KWD)."""
    return int(get_currency_precision(code))
