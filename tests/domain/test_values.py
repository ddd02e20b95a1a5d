"""A published value and its direction: the published direction exact, the other at 15 significant digits half-even,
written without an exponent; exact comparisons as fractions, and changes in percent."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from app.domain.cross import Cross
from app.domain.values import DOLLAR, Value, invert, percent_change, plain_text

KGS = Value(Decimal("0.01150"), per_usd=False)  # the ticker: USD per som
KZT = Value(Decimal("480"), per_usd=True)  # a central bank: tenge per USD


def _digits(number: Decimal) -> int:
    return len(number.as_tuple().digits)


def test_the_published_direction_is_the_published_number_digits_and_all() -> None:
    assert str(KGS.in_base) == "0.01150"
    assert str(Value(Decimal("480.00"), per_usd=True).per_base) == "480.00"


def test_the_derived_direction_is_one_division_at_15_significant_digits() -> None:
    # 1 / 0.0115 = 86.95652173913043478...; 1 / 480 = 0.0020833333333333333...
    assert KGS.per_base == Decimal("86.9565217391304") and _digits(KGS.per_base) == 15
    assert KZT.in_base == Decimal("0.00208333333333333") and _digits(KZT.in_base) == 15


@pytest.mark.parametrize(
    ("number", "inverse"),
    [
        ("3", "0.333333333333333"),
        ("0.5", "2"),
        ("0.00008", "12500"),  # not 1.25E+4
        ("12500", "0.00008"),
        ("480", "0.00208333333333333"),
    ],
)
def test_invert_is_written_plainly_at_15_significant_digits(number: str, inverse: str) -> None:
    assert str(invert(Decimal(number))) == inverse


def test_invert_rounds_a_tie_at_the_15th_digit_half_to_even() -> None:
    # 1 / 4194304 (2^22) = 0.0000002384185791015625 exactly: 16 digits, the last a 5 after an even 2.
    assert invert(Decimal(4194304)) == Decimal("0.000000238418579101562")


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (Decimal("1.25E+4"), "12500"),
        (Decimal("7.86E-5"), "0.0000786"),
        (Decimal("0.01150"), "0.01150"),
        (Decimal("2.38418579101562E-7"), "0.000000238418579101562"),
        (Decimal("480"), "480"),
    ],
)
def test_plain_text_never_writes_an_exponent_and_keeps_the_digits(number: Decimal, text: str) -> None:
    assert plain_text(number) == text


def test_a_value_is_stored_as_its_published_text_and_read_back_the_same() -> None:
    value = Value.parse("0.01150", per_usd=False)
    assert (value.text, str(value)) == ("0.01150", "0.01150")
    assert value == KGS and value.per_usd is False
    assert Value.parse("1.25E+4", per_usd=True).text == "12500"


def test_the_exact_forms_are_divisions_at_40_significant_digits() -> None:
    assert KZT.exact_in_base == Decimal("0.002083333333333333333333333333333333333333")
    assert _digits(KZT.exact_in_base) == 40
    assert Value(Decimal("3"), per_usd=False).exact_per_base == Decimal("0." + "3" * 40)
    assert str(KZT.exact_per_base) == "480" and str(KGS.exact_in_base) == "0.01150"


def test_the_keys_are_exact_fractions_in_either_direction() -> None:
    assert (KZT.in_base_key(), KZT.per_base_key()) == (Fraction(1, 480), Fraction(480))
    assert (KGS.in_base_key(), KGS.per_base_key()) == (Fraction(23, 2000), Fraction(2000, 23))


def test_two_values_of_opposite_directions_are_the_same_rate_when_their_fractions_are_equal() -> None:
    half = Value(Decimal("0.5"), per_usd=False)
    assert half.same_rate(Value(Decimal("2"), per_usd=True))
    assert KZT.same_rate(Value(Decimal("480.00"), per_usd=True))
    # 0.00208333333333333 is 1/480 rounded: not the same rate.
    assert not KZT.same_rate(Value(KZT.in_base, per_usd=False))
    assert not KZT.same_rate(Value(Decimal("480"), per_usd=False))


def test_the_same_rate_published_in_the_other_direction_is_another_value() -> None:
    assert Value(Decimal("0.5"), per_usd=False) != Value(Decimal("2"), per_usd=True)
    assert Value(Decimal("2"), per_usd=False) != Value(Decimal("2"), per_usd=True)


def test_the_same_number_in_the_same_direction_is_the_same_value() -> None:
    """What extends a span: trailing zeros do not make a new value, another direction does (the same rate)."""
    written, padded = Value(Decimal("480"), per_usd=True), Value(Decimal("480.00"), per_usd=True)
    assert written == padded and hash(written) == hash(padded)
    flipped = Value(Decimal("0.002"), per_usd=False)
    assert Value(Decimal("500"), per_usd=True) != flipped and Value(Decimal("500"), per_usd=True).same_rate(flipped)


def test_a_change_is_measured_on_the_exact_rates_whatever_the_directions() -> None:
    # After 480 KZT per USD, 0.002 USD per KZT is 500 per USD: (500 - 480) / 480 = 4.1666...%.
    later = Value(Decimal("0.002"), per_usd=False)
    assert later.per_base_change_pct(KZT) == Decimal("4.166667")
    # In the ticker's direction: from 1/480 to 0.002 is 0.96 times as much, -4 %.
    assert str(later.in_base_change_pct(KZT)) == "-4"


def test_no_change_is_written_as_a_plain_zero() -> None:
    assert str(KZT.per_base_change_pct(Value(Decimal("480.00"), per_usd=True))) == "0"
    assert str(KGS.in_base_change_pct(KGS)) == "0"


@pytest.mark.parametrize(
    ("start", "end", "percent"),
    [
        (Fraction(1), Fraction("1.000000025"), "0.000002"),  # 2.5 millionths of a percent: to the even 2
        (Fraction(1), Fraction("1.000000035"), "0.000004"),  # 3.5: to the even 4
        (Fraction(1), Fraction("0.999999975"), "-0.000002"),
        (Fraction(3), Fraction(2), "-33.333333"),
        (Fraction(2), Fraction(3), "50"),
    ],
)
def test_percent_change_rounds_once_half_to_even_at_six_decimals(start: Fraction, end: Fraction, percent: str) -> None:
    assert str(percent_change(start, end)) == percent


def test_the_dollar_is_one_dollar_per_dollar_either_way() -> None:
    assert (DOLLAR.in_base, DOLLAR.per_base) == (Decimal(1), Decimal(1))
    assert DOLLAR.same_rate(Value(Decimal("1.00"), per_usd=True))


def test_a_row_of_a_bank_table_is_its_dollar_row_over_its_own_both_ways_derived() -> None:
    rub = Value.ratio(Decimal("478.77"), Decimal("5.87"))  # NBK: tenge per dollar, tenge per rouble
    assert (rub.text, Value.parse(rub.text, True)) == ("478.77/5.87", rub)
    assert rub.per_base == Decimal("81.5621805792164")  # roubles per dollar, 15 significant digits
    assert rub.in_base == Decimal("0.0122605844142281")
    assert rub.per_base_key() == Fraction(47877, 587) and rub.in_base_key() == Fraction(587, 47877)
    assert not rub.same_rate(Value(Decimal(47877) / Decimal(587), per_usd=True))  # the division, rounded
    assert rub.same_rate(Value.ratio(Decimal("957.54"), Decimal("11.74")))  # the same fraction, other digits


def test_a_ratio_crosses_with_its_own_table_exactly() -> None:
    kgs = Value(Decimal("87.4500"), per_usd=True)  # NBKR: som per dollar
    kzt = Value.ratio(Decimal("87.4500"), Decimal("0.1859"))  # its row: som per tenge
    assert Cross(kzt, kgs).in_base == Decimal("0.1859")  # som per tenge, as NBKR fixed it
