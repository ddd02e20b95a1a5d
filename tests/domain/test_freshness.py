"""The one freshness rule: when a stored value is not yet published, fresh, stale or lapsed, for each kind of
publication (intraday, announced, daily), exactly at the instants its state changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest

from app.domain.freshness import Cadence, Publication, State
from tests.support import at

TICK = timedelta(microseconds=1)
INTRADAY = Cadence(Publication.INTRADAY, interval=timedelta(minutes=5), max_gap=timedelta(minutes=15))
ANNOUNCED = Cadence(Publication.ANNOUNCED, interval=timedelta(hours=1), max_gap=timedelta(hours=3))
DAILY = Cadence(Publication.DAILY, interval=timedelta(hours=1), max_gap=timedelta(hours=3))  # stale_days 4, carry 8d


@dataclass(frozen=True)
class Sighting:
    """A stored value as the rule sees it."""

    first_seen: datetime
    last_seen: datetime
    effective_date: date | None = None
    next_update: datetime | None = None


def _states(cadence: Cadence, seen: Sighting, *moments: str) -> list[State]:
    return [cadence.state(seen, at(moment)) for moment in moments]


def test_only_fresh_and_stale_values_are_in_force() -> None:
    assert [state for state in State if state.in_force] == [State.FRESH, State.STALE]


def test_a_value_is_not_yet_published_before_it_was_first_seen() -> None:
    seen = Sighting(at("2026-02-23T10:00"), at("2026-02-23T10:30"), date(2026, 2, 23), at("2026-02-24T00:00"))
    for cadence in (INTRADAY, ANNOUNCED, DAILY):
        assert cadence.state(seen, at("2026-02-23T10:00") - TICK) is State.NOT_YET
        assert cadence.state(seen, at("2026-02-23T10:00")) is State.FRESH


@pytest.mark.parametrize(
    ("publication", "max_gap", "hold"),
    [
        (Publication.INTRADAY, timedelta(minutes=15), timedelta(minutes=15)),
        (Publication.ANNOUNCED, timedelta(hours=3), timedelta(hours=3)),
        (Publication.DAILY, timedelta(hours=3), timedelta(days=8)),  # the carry: the longest holidays
        (Publication.DAILY, timedelta(days=10), timedelta(days=10)),  # a max_gap longer than the carry wins
    ],
)
def test_a_value_holds_for_its_max_gap_or_for_a_daily_rate_the_longer_of_it_and_the_carry(
    publication: Publication, max_gap: timedelta, hold: timedelta
) -> None:
    assert Cadence(publication, interval=timedelta(minutes=5), max_gap=max_gap).hold == hold


# Intraday: last seen 10:30, max_gap 15 minutes: stale and out of force both from 10:45.


def test_an_intraday_value_is_fresh_until_max_gap_after_its_last_sighting() -> None:
    seen = Sighting(at("2026-02-23T10:00"), at("2026-02-23T10:30"))
    assert INTRADAY.stale_at(seen) == at("2026-02-23T10:45")
    assert INTRADAY.held_until(seen) == at("2026-02-23T10:45")
    assert _states(INTRADAY, seen, "2026-02-23T10:30", "2026-02-23T10:44:59.999999") == [State.FRESH, State.FRESH]


def test_an_intraday_value_is_stale_at_its_last_instant_in_force_and_lapsed_after_it() -> None:
    seen = Sighting(at("2026-02-23T10:00"), at("2026-02-23T10:30"))
    assert INTRADAY.state(seen, at("2026-02-23T10:45")) is State.STALE
    assert INTRADAY.state(seen, at("2026-02-23T10:45") + TICK) is State.LAPSED
    assert INTRADAY.state(seen, at("2026-02-24T10:45")) is State.LAPSED


def test_an_intraday_cadence_ignores_an_effective_date_and_an_announcement() -> None:
    plain = Sighting(at("2026-02-23T10:00"), at("2026-02-23T10:30"))
    dated = Sighting(at("2026-02-23T10:00"), at("2026-02-23T10:30"), date(2026, 1, 1), at("2026-03-01T00:00"))
    assert (INTRADAY.stale_at(dated), INTRADAY.held_until(dated)) == (
        INTRADAY.stale_at(plain),
        INTRADAY.held_until(plain),
    )


# Announced: first seen 2026-02-23 00:10, the next update announced for 2026-02-24 00:05, max_gap 3 hours:
# fresh until 03:05 the next day, whatever the polls did in between.


def test_an_announced_value_is_fresh_until_its_next_update_plus_max_gap_even_unconfirmed() -> None:
    seen = Sighting(at("2026-02-23T00:10"), at("2026-02-23T00:10"), next_update=at("2026-02-24T00:05"))
    assert ANNOUNCED.stale_at(seen) == at("2026-02-24T03:05")
    # Unseen for 20 hours, far past max_gap: the value still holds, its successor is not due yet.
    assert _states(ANNOUNCED, seen, "2026-02-23T20:00", "2026-02-24T03:04:59.999999") == [State.FRESH, State.FRESH]


def test_an_announced_value_no_poll_confirms_past_its_next_update_lapses_at_once() -> None:
    seen = Sighting(at("2026-02-23T00:10"), at("2026-02-23T23:10"), next_update=at("2026-02-24T00:05"))
    # Last seen 23:10: in force by its sighting until 02:10, by its announcement until 03:05.
    assert ANNOUNCED.held_until(seen) == at("2026-02-24T03:05")
    assert ANNOUNCED.state(seen, at("2026-02-24T03:05")) is State.STALE
    assert ANNOUNCED.state(seen, at("2026-02-24T03:05") + TICK) is State.LAPSED


def test_an_announced_value_the_feed_still_repeats_after_its_next_update_is_stale_until_max_gap_after() -> None:
    seen = Sighting(at("2026-02-23T00:10"), at("2026-02-24T05:00"), next_update=at("2026-02-24T00:05"))
    assert (ANNOUNCED.stale_at(seen), ANNOUNCED.held_until(seen)) == (at("2026-02-24T03:05"), at("2026-02-24T08:00"))
    assert _states(
        ANNOUNCED,
        seen,
        "2026-02-24T03:04:59.999999",
        "2026-02-24T03:05",
        "2026-02-24T08:00",
        "2026-02-24T08:00:00.000001",
    ) == [State.FRESH, State.STALE, State.STALE, State.LAPSED]


def test_an_announced_value_stored_without_an_announcement_follows_the_intraday_rule() -> None:
    seen = Sighting(at("2026-02-23T00:10"), at("2026-02-23T01:00"))
    assert (ANNOUNCED.stale_at(seen), ANNOUNCED.held_until(seen)) == (at("2026-02-23T04:00"), at("2026-02-23T04:00"))
    assert _states(ANNOUNCED, seen, "2026-02-23T03:59:59.999999", "2026-02-23T04:00", "2026-02-23T04:00:00.000001") == [
        State.FRESH,
        State.STALE,
        State.LAPSED,
    ]


# Daily: stale from 00:00 UTC on the day after its effective date turns stale_days (4) old, in force until the
# carry (8 days) after its last sighting.


def test_a_daily_rate_is_fresh_until_00_00_utc_the_day_after_its_effective_date_turns_four_days_old() -> None:
    # Effective Monday 2026-02-23, last seen Tuesday morning: four days old on Friday 27, stale from Saturday 28.
    seen = Sighting(at("2026-02-23T03:00"), at("2026-02-24T02:00"), date(2026, 2, 23))
    assert DAILY.stale_at(seen) == at("2026-02-28T00:00")
    assert _states(DAILY, seen, "2026-02-27T23:59:59.999999", "2026-02-28T00:00") == [State.FRESH, State.STALE]


def test_a_long_weekend_does_not_make_a_daily_rate_stale() -> None:
    # Effective Friday 2026-02-27, nothing published Monday or Tuesday: still fresh on Tuesday night.
    seen = Sighting(at("2026-02-27T03:00"), at("2026-03-03T20:00"), date(2026, 2, 27))
    assert _states(DAILY, seen, "2026-03-02T12:00", "2026-03-03T23:59:59.999999", "2026-03-04T00:00") == [
        State.FRESH,
        State.FRESH,
        State.STALE,
    ]


def test_a_daily_rate_stays_in_force_stale_until_the_carry_after_its_last_sighting_then_lapses() -> None:
    seen = Sighting(at("2026-02-23T03:00"), at("2026-02-24T02:00"), date(2026, 2, 23))
    assert DAILY.held_until(seen) == at("2026-03-04T02:00")
    assert _states(DAILY, seen, "2026-03-04T02:00", "2026-03-04T02:00:00.000001") == [State.STALE, State.LAPSED]


def test_the_stale_days_setting_moves_when_a_daily_rate_turns_stale() -> None:
    seen = Sighting(at("2026-02-23T03:00"), at("2026-02-23T03:00"), date(2026, 2, 23))
    one_day = Cadence(Publication.DAILY, interval=timedelta(hours=1), max_gap=timedelta(hours=3), stale_days=1)
    assert one_day.stale_at(seen) == at("2026-02-25T00:00")
    assert one_day.state(seen, at("2026-02-24T23:59:59.999999")) is State.FRESH


def test_a_daily_rate_turns_stale_no_later_than_it_stops_being_in_force() -> None:
    short = Cadence(Publication.DAILY, interval=timedelta(hours=1), max_gap=timedelta(hours=3), carry=timedelta(days=2))
    seen = Sighting(at("2026-02-23T03:00"), at("2026-02-23T06:00"), date(2026, 2, 23))
    assert short.stale_at(seen) == short.held_until(seen) == at("2026-02-25T06:00")
    assert _states(short, seen, "2026-02-25T05:59:59.999999", "2026-02-25T06:00", "2026-02-25T06:00:00.000001") == [
        State.FRESH,
        State.STALE,
        State.LAPSED,
    ]


def test_a_daily_rate_first_seen_long_after_its_effective_date_is_stale_from_its_first_sighting() -> None:
    seen = Sighting(at("2026-02-23T03:00"), at("2026-02-23T03:00"), date(2026, 1, 5))
    assert DAILY.state(seen, at("2026-02-23T03:00")) is State.STALE


def test_a_daily_rate_ignores_an_announced_next_update() -> None:
    seen = Sighting(at("2026-02-23T03:00"), at("2026-02-24T02:00"), date(2026, 2, 23), at("2026-02-24T00:00"))
    assert (DAILY.stale_at(seen), DAILY.held_until(seen)) == (at("2026-02-28T00:00"), at("2026-03-04T02:00"))
