"""Cross rates and conversions through USD: one division of the exact legs, rounded half-even at 15 significant
digits, USD on either side; and the one grammar of an amount, with the message of each refusal."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from app.domain.cross import MAX_AMOUNT_TEXT, AmountError, Cross, cross, parse_amount
from app.domain.values import DOLLAR, Value

KGS = Value(Decimal("0.0115"), per_usd=False)  # USD per som
KZT = Value(Decimal("481"), per_usd=True)  # tenge per USD
KZT_480 = Value(Decimal("480"), per_usd=True)
UZS = Value(Decimal("12500"), per_usd=True)


def test_a_cross_is_the_exact_quotient_of_its_legs() -> None:
    # 0.0115 USD per som over 1/481 USD per tenge: 5.5315 tenge per som, exactly; its inverse 1 / 5.5315.
    level = Cross(KGS, KZT)
    assert level.in_base == Decimal("5.5315")
    assert level.per_base == Decimal("0.180782789478442")
    assert level.per_base_key() == Fraction(2000, 11063)
    assert level.exact_in_base == Decimal("5.5315")
    assert level.exact_per_base == Decimal("0.1807827894784416523546958329567025219199")


def test_a_cross_of_two_legs_published_per_usd() -> None:
    # 12500 sum and 480 tenge per USD: 26.041666... sum per tenge, 0.0384 tenge per sum.
    level = Cross(KZT_480, UZS)
    assert (level.in_base, level.per_base) == (Decimal("26.0416666666667"), Decimal("0.0384"))


def test_converting_between_two_currencies_gives_the_cross_and_the_amount() -> None:
    assert cross(Decimal(1000), KGS, KZT) == (Decimal("5.5315"), Decimal("5531.5"))


def test_converting_from_usd_multiplies_by_the_published_rate_written_plainly() -> None:
    rate, result = cross(Decimal(1000), None, KZT_480)
    assert (str(rate), str(result)) == ("480", "480000")  # not 4.8E+5


def test_converting_to_usd_divides_the_amount_once_instead_of_multiplying_a_rounded_rate() -> None:
    rate, result = cross(Decimal(2), KZT_480, None)
    assert rate == Decimal("0.00208333333333333")
    # 2 / 480 = 0.0041666...: 2 times the rounded rate would give 0.00416666666666666.
    assert result == Decimal("0.00416666666666667")


def test_converting_usd_to_usd_keeps_the_amount() -> None:
    assert cross(Decimal("12.5"), None, None) == (Decimal(1), Decimal("12.5"))


@pytest.mark.parametrize(
    ("amount", "source", "target", "rate", "result"),
    [
        ("1e6", None, KZT_480, "480", "480000000"),  # not 4.80E+8
        ("10.00", None, None, "1", "10"),  # not 10.00
        ("2.50", Value(Decimal("0.0200"), per_usd=False), None, "0.02", "0.05"),  # not 0.0200 and 0.0500000
    ],
)
def test_a_rate_and_a_result_are_written_without_trailing_zeros_or_a_positive_exponent(
    amount: str, source: Value | None, target: Value | None, rate: str, result: str
) -> None:
    assert tuple(map(str, cross(Decimal(amount), source, target))) == (rate, result)


@pytest.mark.parametrize(
    ("amount", "result"),
    [
        ("200000000000001", "100000000000000"),  # 100000000000000.5: a tie, to the even 0
        ("200000000000003", "100000000000002"),  # 100000000000001.5: a tie, to the even 2
        ("200000000000003.2", "100000000000002"),  # 100000000000001.6
    ],
)
def test_a_converted_amount_is_rounded_half_to_even_at_15_significant_digits(amount: str, result: str) -> None:
    half = Value(Decimal("0.5"), per_usd=False)
    assert cross(Decimal(amount), half, None) == (Decimal("0.5"), Decimal(result))


@pytest.mark.parametrize(
    ("published", "rate"),
    [("1.000000000000005", "1"), ("1.000000000000015", "1.00000000000002"), ("1.0000000000000051", "1.00000000000001")],
)
def test_a_cross_rate_is_rounded_half_to_even_at_15_significant_digits(published: str, rate: str) -> None:
    assert cross(Decimal(1), Value(Decimal(published), per_usd=False), None)[0] == Decimal(rate)
    assert Cross(Value(Decimal(published), per_usd=False), DOLLAR).in_base == Decimal(rate)


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        ("1000", Decimal(1000)),
        ("12.5", Decimal("12.5")),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        ("1e6", Decimal(1000000)),
        ("2.5E-3", Decimal("0.0025")),
        ("  42\n", Decimal(42)),
        ("1000000000000000", Decimal(10) ** 15),  # the largest amount
        ("1e15", Decimal(10) ** 15),
        ("0.000000000000000001", Decimal(10) ** -18),  # the smallest
        ("1e-18", Decimal(10) ** -18),
        ("1." + "0" * (MAX_AMOUNT_TEXT - 2), Decimal(1)),  # 64 characters
    ],
)
def test_an_amount_in_the_one_grammar_is_accepted(raw: str, amount: Decimal) -> None:
    assert parse_amount(raw) == amount


NOT_A_NUMBER = "is not a number; give a positive number such as 1000 or 12.5"
NOT_FINITE = "is not a finite number; give a positive number such as 1000 or 12.5"
NOT_POSITIVE = "is not positive; give a number greater than 0"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "amount is empty; give a positive number such as 1000 or 12.5"),
        ("  ", "amount is empty; give a positive number such as 1000 or 12.5"),
        ("1" * 65, "amount is 65 characters long; give a number of at most 64"),
        ("NaN", f"amount 'NaN' {NOT_FINITE}"),
        ("-inf", f"amount '-inf' {NOT_FINITE}"),
        ("Infinity", f"amount 'Infinity' {NOT_FINITE}"),
        ("-5", f"amount '-5' {NOT_POSITIVE}"),
        (" -5 ", f"amount ' -5 ' {NOT_POSITIVE}"),
        ("0", f"amount '0' {NOT_POSITIVE}"),
        ("0.000e5", f"amount '0.000e5' {NOT_POSITIVE}"),
        ("+5", f"amount '+5' {NOT_A_NUMBER}"),
        ("1_000", f"amount '1_000' {NOT_A_NUMBER}"),
        ("1,000", f"amount '1,000' {NOT_A_NUMBER}"),
        ("١٢", f"amount '١٢' {NOT_A_NUMBER}"),  # Arabic-Indic digits: Decimal would take them
        ("1e1000", f"amount '1e1000' {NOT_A_NUMBER}"),  # an exponent of four digits
        ("12.5.1", f"amount '12.5.1' {NOT_A_NUMBER}"),
        ("e5", f"amount 'e5' {NOT_A_NUMBER}"),
        ("0x10", f"amount '0x10' {NOT_A_NUMBER}"),
        ("1e16", "amount '1e16' is larger than 10^15 (1000000000000000); give a smaller amount"),
        (
            "1000000000000000.1",
            "amount '1000000000000000.1' is larger than 10^15 (1000000000000000); give a smaller amount",
        ),
        ("1e-19", "amount '1e-19' is smaller than 10^-18 (0.000000000000000001); give a larger amount"),
        ("1e-999", "amount '1e-999' is smaller than 10^-18 (0.000000000000000001); give a larger amount"),
    ],
)
def test_an_amount_outside_the_grammar_or_the_bounds_is_refused_saying_why(raw: str, message: str) -> None:
    with pytest.raises(AmountError) as refused:
        parse_amount(raw)
    assert str(refused.value) == message
    assert isinstance(refused.value, ValueError)
