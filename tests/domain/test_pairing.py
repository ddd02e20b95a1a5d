"""A cross as a series of pieces: one whenever either leg begins a span, once both have; last seen when the earlier
of its legs was; its level stored as text and read back as the same cross."""

from __future__ import annotations

from decimal import Decimal

from app.domain.cross import Cross
from app.domain.pairing import Crossing, crossings, level_text, parse_level
from app.domain.steps import Span
from app.domain.values import Value
from tests.support import at


def _span(first: str, last: str, value: str, per_usd: bool = False) -> Span:
    return Span(at(f"2026-01-01T{first}"), at(f"2026-01-01T{last}"), Value(Decimal(value), per_usd))


def test_a_piece_begins_whenever_either_leg_begins_a_span_once_both_have() -> None:
    kgs = [_span("09:00", "09:50", "0.01144"), _span("10:00", "11:00", "0.0115")]
    kzt = [_span("09:30", "10:00", "480.5", per_usd=True), _span("10:00", "10:40", "481", per_usd=True)]
    found = list(crossings(kgs, kzt))
    assert [(p.first_seen, p.last_seen) for p in found] == [
        (at("2026-01-01T09:30"), at("2026-01-01T09:50")),  # KZT begins; KGS (seen till 09:50) already had
        (at("2026-01-01T10:00"), at("2026-01-01T10:40")),  # both begin at once: one piece, not two
    ]
    assert [p.value for p in found] == [Cross(kgs[0].value, kzt[0].value), Cross(kgs[1].value, kzt[1].value)]
    # 0.0115 USD per som over 1/481 USD per tenge: 5.5315 tenge per som.
    assert found[1].value.in_base == Decimal("5.5315")


def test_a_piece_whose_leg_was_last_seen_before_it_began_says_so() -> None:
    kgs = [_span("09:00", "09:10", "0.01144")]
    kzt = [_span("09:40", "09:45", "480", per_usd=True)]
    # KGS was last seen 30 minutes before the piece began: whether it was in force then is the reader's hold.
    assert list(crossings(kgs, kzt)) == [
        Crossing(at("2026-01-01T09:40"), at("2026-01-01T09:10"), Cross(kgs[0].value, kzt[0].value))
    ]
    assert list(crossings(kgs, [])) == [] and list(crossings([], kzt)) == []


def test_a_level_is_stored_as_both_legs_published_values_and_read_back_the_same() -> None:
    level = Cross(Value(Decimal("0.011440"), False), Value(Decimal("12500.00"), True))
    assert level_text(level) == "0.011440 0 12500.00 1"
    assert parse_level(level_text(level)) == level
    assert parse_level(level_text(level)).in_base == level.in_base
