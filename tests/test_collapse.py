"""The pure collapse rules."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from app.domain.collapse import Action, OpenSpan, decide, dedupe
from app.domain.quotes import Quote
from app.domain.values import Value
from tests.support import at

GAP = timedelta(minutes=15)


def quote(value: str, when: str = "2026-02-23T10:05", currency: str = "KGS") -> Quote:
    return Quote(currency=currency, source="ticker", value=Value(Decimal(value), per_usd=False), observed_at=at(when))


def span(value: str, last_seen: str = "2026-02-23T10:00") -> OpenSpan:
    return OpenSpan(Value(Decimal(value), per_usd=False), at(last_seen), None)


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


def test_replayed_or_older_observation_is_ignored() -> None:
    assert decide(quote("0.01144", "2026-02-23T10:00"), span("0.01144"), GAP) is Action.IGNORE
    assert decide(quote("0.09999", "2026-02-23T09:00"), span("0.01144"), GAP) is Action.IGNORE
