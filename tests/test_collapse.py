"""The pure collapse rules."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from app.domain.collapse import Action, Neighbours, OpenSpan, Placement, conflict, decide, dedupe, place
from app.domain.quotes import Quote
from app.domain.values import Value
from tests.support import at

GAP = timedelta(minutes=15)


def quote(value: str, when: str = "2026-02-23T10:05", currency: str = "KGS") -> Quote:
    return Quote(currency=currency, source="ticker", value=Value(Decimal(value), per_usd=False), observed_at=at(when))


def span(value: str, last_seen: str = "2026-02-23T10:00", first_seen: str | None = None) -> OpenSpan:
    return OpenSpan(Value(Decimal(value), per_usd=False), at(first_seen or last_seen), at(last_seen), None)


def test_repeated_entries_become_one_quote() -> None:
    kept, rejected = dedupe([quote("0.01144"), quote("0.011440"), quote("0.01144")])
    assert kept == [quote("0.01144")]
    assert rejected == []


def test_conflicting_duplicates_reject_the_pair_only() -> None:
    kept, rejected = dedupe([quote("0.01144"), quote("0.00201", currency="KZT"), quote("0.01145")])
    assert [q.currency for q in kept] == ["KZT"]
    assert len(rejected) == 1
    assert str(rejected[0]) == "KGS from ticker: conflicting values in one snapshot (0.01144, 0.01145)"


def test_first_quote_opens_a_span() -> None:
    assert decide(quote("0.01144"), None, GAP) is Action.OPEN


def test_same_value_within_gap_extends() -> None:
    assert decide(quote("0.011440"), span("0.01144"), GAP) is Action.EXTEND


def test_changed_value_opens() -> None:
    assert decide(quote("0.01145"), span("0.01144"), GAP) is Action.OPEN


def test_same_value_after_a_gap_opens() -> None:
    assert decide(quote("0.01144", "2026-02-23T10:15:01"), span("0.01144"), GAP) is Action.OPEN
    assert decide(quote("0.01144", "2026-02-23T10:15"), span("0.01144"), GAP) is Action.EXTEND


def test_replayed_or_older_observation_is_late() -> None:
    assert decide(quote("0.01144", "2026-02-23T10:00"), span("0.01144"), GAP) is Action.LATE
    assert decide(quote("0.09999", "2026-02-23T09:00"), span("0.01144"), GAP) is Action.LATE


def test_a_sighting_a_span_holds_is_ignored_and_one_between_is_within() -> None:
    around = Neighbours(span("0.01144", "2026-02-23T10:10", first_seen="2026-02-23T10:00"))
    assert place(quote("0.01144", "2026-02-23T10:00"), around, GAP) is Placement.IGNORE
    assert place(quote("0.01144", "2026-02-23T10:10"), around, GAP) is Placement.IGNORE
    assert place(quote("0.011440", "2026-02-23T10:05"), around, GAP) is Placement.WITHIN
    assert place(quote("0.01150", "2026-02-23T10:05"), around, GAP) is Placement.CONFLICT


def test_a_conflict_says_what_was_seen_when_and_what_covers_it() -> None:
    covering = span("0.01144", "2026-02-23T10:10", first_seen="2026-02-23T10:00")
    assert str(conflict(quote("0.01150"), covering)) == (
        "KGS from ticker: 0.01150 seen at 2026-02-23T10:05:00Z falls inside a stored span of 0.01144 "
        "(2026-02-23T10:00:00Z to 2026-02-23T10:10:00Z)"
    )
