"""Bucket boundaries of hours, days, weeks and months in UTC and in local zones (Almaty, UTC+5 since 2024-03-01,
UTC+6 before), their counts, how a start is written, zone names, and runs of consecutive hours."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.domain.calendar import Calendar, Interval, consecutive, hour_ranges, zone_named
from tests.support import at

ALMATY = ZoneInfo("Asia/Almaty")
HAVANA = ZoneInfo("America/Havana")  # springs forward at midnight
TICK = timedelta(microseconds=1)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("interval", "start"),
    [
        ("1h", "2026-02-25T13:00"),
        ("1d", "2026-02-25T00:00"),
        ("1w", "2026-02-23T00:00"),  # the Monday before Wednesday 25
        ("1mo", "2026-02-01T00:00"),
    ],
)
def test_a_bucket_in_utc_starts_on_the_hour_midnight_monday_or_the_first(interval: Interval, start: str) -> None:
    floor = Calendar(interval).floor(at("2026-02-25T13:47:12.5"))
    assert floor == at(start)
    assert floor.tzinfo is UTC


@pytest.mark.parametrize(
    ("interval", "start"),
    [
        ("1h", "2026-02-25T20:00"),
        ("1d", "2026-02-25T19:00"),  # Thursday 26, 00:00 in Almaty
        ("1w", "2026-02-22T19:00"),  # Monday 23, 00:00 in Almaty
        ("1mo", "2026-01-31T19:00"),  # 1 February, 00:00 in Almaty
    ],
)
def test_a_bucket_in_almaty_starts_at_local_midnight_in_utc(interval: Interval, start: str) -> None:
    # 20:30 UTC on Wednesday 25 is 01:30 on Thursday 26 in Almaty.
    floor = Calendar(interval, ALMATY).floor(at("2026-02-25T20:30"))
    assert floor == at(start)
    assert floor.tzinfo is UTC


@pytest.mark.parametrize(
    ("interval", "boundary", "previous"),
    [
        ("1d", "2026-02-25T19:00", "2026-02-24T19:00"),
        ("1w", "2026-03-01T19:00", "2026-02-22T19:00"),  # Monday 2 March in Almaty; the last Sunday's 23:59 before
        ("1mo", "2026-02-28T19:00", "2026-01-31T19:00"),  # 1 March in Almaty
        ("1mo", "2025-12-31T19:00", "2025-11-30T19:00"),  # 1 January 2026 in Almaty
    ],
)
def test_the_last_instant_before_a_local_boundary_belongs_to_the_bucket_before(
    interval: Interval, boundary: str, previous: str
) -> None:
    calendar = Calendar(interval, ALMATY)
    assert calendar.floor(at(boundary)) == at(boundary)
    assert calendar.floor(at(boundary) - TICK) == at(previous)


@pytest.mark.parametrize(
    ("zone", "interval", "start", "following"),
    [
        (UTC, "1h", "2026-02-25T23:00", "2026-02-26T00:00"),
        (UTC, "1d", "2026-02-28T00:00", "2026-03-01T00:00"),
        (UTC, "1w", "2026-02-23T00:00", "2026-03-02T00:00"),
        (UTC, "1mo", "2026-02-01T00:00", "2026-03-01T00:00"),
        (UTC, "1mo", "2025-12-01T00:00", "2026-01-01T00:00"),
        (ALMATY, "1h", "2026-02-25T19:00", "2026-02-25T20:00"),
        (ALMATY, "1d", "2026-02-27T19:00", "2026-02-28T19:00"),
        (ALMATY, "1w", "2026-02-22T19:00", "2026-03-01T19:00"),
        (ALMATY, "1mo", "2026-01-31T19:00", "2026-02-28T19:00"),
        (ALMATY, "1mo", "2025-11-30T19:00", "2025-12-31T19:00"),  # December to January
        (ALMATY, "1mo", "2024-01-31T18:00", "2024-02-29T19:00"),  # February 2024, across the change to UTC+5
    ],
)
def test_the_following_bucket_starts_at_the_next_boundary(
    zone: ZoneInfo, interval: Interval, start: str, following: str
) -> None:
    assert Calendar(interval, zone).following(at(start)) == at(following)


def test_29_february_2024_lasted_25_hours_in_almaty() -> None:
    # Kazakhstan moved from UTC+6 to UTC+5 on 1 March 2024.
    days = Calendar("1d", ALMATY)
    assert days.floor(at("2024-02-29T12:00")) == at("2024-02-28T18:00")
    assert days.following(at("2024-02-28T18:00")) == at("2024-02-29T19:00")
    assert days.floor(at("2024-02-29T18:59")) == at("2024-02-28T18:00")


def test_a_day_whose_midnight_the_clocks_skip_begins_at_the_change() -> None:
    # Havana springs forward from 00:00 (UTC-5) to 01:00 (UTC-4) on 8 March 2026: that day lasts 23 hours.
    days = Calendar("1d", HAVANA)
    assert days.floor(at("2026-03-08T12:00")) == at("2026-03-08T05:00")
    assert days.following(at("2026-03-08T05:00")) == at("2026-03-09T04:00")


def test_hours_in_kolkata_begin_at_half_past_the_utc_hour() -> None:
    hours = Calendar("1h", ZoneInfo("Asia/Kolkata"))
    assert hours.floor(at("2026-02-23T10:10")) == at("2026-02-23T09:30")
    assert hours.following(at("2026-02-23T09:30")) == at("2026-02-23T10:30")


def test_hourly_starts_across_a_half_hour_change_of_offset_never_step_back_or_stand_still() -> None:
    # Lord Howe Island turns its clocks back half an hour (UTC+11 to UTC+10:30) at 15:00 UTC on 4 April 2026,
    # and forward again at 15:30 UTC on 3 October.
    hours = Calendar("1h", ZoneInfo("Australia/Lord_Howe"))
    for start, end in [("2026-04-04T12:00", "2026-04-04T19:00"), ("2026-10-03T12:30", "2026-10-03T19:00")]:
        starts = list(itertools.islice(hours.starts(at(start), at(end)), 20))  # a start that stood still: no end
        assert starts[0] == at(start) and len(starts) >= 7
        assert all(timedelta(0) < b - a <= HOUR for a, b in itertools.pairwise(starts))


@pytest.mark.parametrize(
    ("zone", "interval", "moment", "ceil"),
    [
        (UTC, "1d", "2026-02-25T00:00", "2026-02-25T00:00"),
        (UTC, "1d", "2026-02-25T00:00:00.000001", "2026-02-26T00:00"),
        (UTC, "1w", "2026-02-24T00:00", "2026-03-02T00:00"),
        (ALMATY, "1d", "2026-02-25T19:00", "2026-02-25T19:00"),
        (ALMATY, "1d", "2026-02-25T00:00", "2026-02-25T19:00"),
        (ALMATY, "1mo", "2026-02-01T00:00", "2026-02-28T19:00"),
    ],
)
def test_ceil_is_the_first_bucket_start_at_or_after_a_moment(
    zone: ZoneInfo, interval: Interval, moment: str, ceil: str
) -> None:
    assert Calendar(interval, zone).ceil(at(moment)) == at(ceil)


def test_starts_lists_every_bucket_start_in_the_range_both_ends_included() -> None:
    days = Calendar("1d", ALMATY)
    assert list(days.starts(at("2026-02-25T19:00"), at("2026-02-27T19:00"))) == [
        at("2026-02-25T19:00"),
        at("2026-02-26T19:00"),
        at("2026-02-27T19:00"),
    ]
    assert list(days.starts(at("2026-02-25T19:00:00.000001"), at("2026-02-26T18:59"))) == []
    assert list(Calendar("1mo").starts(at("2025-11-15T00:00"), at("2026-02-01T00:00"))) == [
        at("2025-12-01T00:00"),
        at("2026-01-01T00:00"),
        at("2026-02-01T00:00"),
    ]


@pytest.mark.parametrize(
    ("zone", "interval", "start", "end", "count"),
    [
        (UTC, "1h", "2026-02-23T00:00", "2026-02-24T00:00", 25),
        (UTC, "1h", "2026-02-23T00:30", "2026-02-23T00:59", 0),
        (UTC, "1d", "2026-02-01T00:00", "2026-02-28T23:59", 28),
        (UTC, "1w", "2026-02-23T00:00", "2026-03-22T23:59", 4),
        (UTC, "1mo", "2025-01-01T00:00", "2026-12-31T23:59", 24),
        (ALMATY, "1h", "2026-02-23T00:10", "2026-02-23T10:10", 10),
        (ALMATY, "1d", "2026-01-31T19:00", "2026-02-28T19:00", 29),  # 1 February to 1 March, both included
        (ALMATY, "1w", "2026-02-22T19:00", "2026-03-08T19:00", 3),
        (ALMATY, "1mo", "2025-11-15T00:00", "2026-02-01T00:00", 3),
        (ALMATY, "1d", "2024-02-27T18:00", "2024-03-02T19:00", 5),  # across the 25-hour day
        (ALMATY, "1d", "2026-02-25T19:00:00.000001", "2026-02-26T18:59", 0),
        (HAVANA, "1d", "2026-03-07T05:00", "2026-03-09T04:00", 3),  # across a 23-hour day
    ],
)
def test_count_is_the_number_of_bucket_starts_in_the_range(
    zone: ZoneInfo, interval: Interval, start: str, end: str, count: int
) -> None:
    calendar = Calendar(interval, zone)
    assert calendar.count(at(start), at(end)) == count
    assert len(list(calendar.starts(at(start), at(end)))) == count


def test_count_never_falls_short_of_the_bucket_starts_across_a_half_hour_change_of_offset() -> None:
    hours = Calendar("1h", ZoneInfo("Australia/Lord_Howe"))
    start, end = at("2026-10-03T13:00"), at("2026-10-03T18:00")
    assert hours.count(start, end) >= len(list(hours.starts(start, end)))


def test_a_bucket_start_is_written_in_the_zones_own_offset() -> None:
    assert Calendar("1d", ALMATY).local(at("2026-02-22T19:00")).isoformat() == "2026-02-23T00:00:00+05:00"
    assert Calendar("1d", ALMATY).local(at("2024-02-28T18:00")).isoformat() == "2024-02-29T00:00:00+06:00"
    assert Calendar("1d").local(at("2026-02-23T00:00")).isoformat() == "2026-02-23T00:00:00+00:00"


@pytest.mark.parametrize("name", ["UTC", "utc", "Z", "Etc/UTC", "etc/utc"])
def test_the_names_of_utc_are_the_utc_zone(name: str) -> None:
    assert zone_named(name) is UTC


def test_a_zone_is_found_by_its_iana_name_and_an_unknown_name_is_refused() -> None:
    assert zone_named("Asia/Almaty") == ALMATY
    with pytest.raises(KeyError):
        zone_named("Nowhere/Atlantis")
    with pytest.raises(ValueError):
        zone_named("../etc")


def test_consecutive_moments_are_gathered_into_runs_of_one_step() -> None:
    moments = [at(f"2026-02-23T{hour:02}:00") for hour in (1, 2, 3, 5, 7, 8)]
    assert consecutive(moments, HOUR) == [
        (at("2026-02-23T01:00"), at("2026-02-23T03:00")),
        (at("2026-02-23T05:00"), at("2026-02-23T05:00")),
        (at("2026-02-23T07:00"), at("2026-02-23T08:00")),
    ]
    assert consecutive([], HOUR) == []


def test_hour_ranges_are_half_open_and_accept_any_order_and_repeats() -> None:
    hours = [at("2026-02-23T03:00"), at("2026-02-23T01:00"), at("2026-02-23T02:00"), at("2026-02-23T01:00")]
    hours.append(at("2026-02-23T23:00"))
    hours.append(at("2026-02-24T00:00"))  # across midnight: still one run
    assert hour_ranges(hours) == [
        (at("2026-02-23T01:00"), at("2026-02-23T04:00")),
        (at("2026-02-23T23:00"), at("2026-02-24T01:00")),
    ]
    assert hour_ranges([datetime(2026, 2, 23, 5, tzinfo=UTC)]) == [(at("2026-02-23T05:00"), at("2026-02-23T06:00"))]
