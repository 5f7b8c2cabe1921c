"""Quota periods in UTC (DAY, ISO WEEK from Monday, MONTH) and the quota offset in the initial period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from fastgw.usage.periods import Period, effective_limit, period_bounds


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        ("DAY", utc(2024, 3, 10, 15, 30), utc(2024, 3, 10), utc(2024, 3, 11)),
        ("DAY", utc(2024, 3, 10), utc(2024, 3, 10), utc(2024, 3, 11)),
        ("DAY", utc(2024, 3, 10, 23, 59, 59, 999999), utc(2024, 3, 10), utc(2024, 3, 11)),
        ("DAY", utc(2023, 12, 31, 12), utc(2023, 12, 31), utc(2024, 1, 1)),
        ("DAY", utc(2024, 2, 28, 12), utc(2024, 2, 28), utc(2024, 2, 29)),
        ("DAY", utc(2024, 2, 29, 12), utc(2024, 2, 29), utc(2024, 3, 1)),
        # 2024-01-01 is a Monday.
        ("WEEK", utc(2024, 1, 1), utc(2024, 1, 1), utc(2024, 1, 8)),
        ("WEEK", utc(2024, 1, 3, 10), utc(2024, 1, 1), utc(2024, 1, 8)),
        ("WEEK", utc(2024, 1, 7, 23, 59), utc(2024, 1, 1), utc(2024, 1, 8)),
        ("WEEK", utc(2025, 1, 1, 8), utc(2024, 12, 30), utc(2025, 1, 6)),
        ("WEEK", utc(2024, 2, 29), utc(2024, 2, 26), utc(2024, 3, 4)),
        ("MONTH", utc(2024, 3, 15, 8), utc(2024, 3, 1), utc(2024, 4, 1)),
        ("MONTH", utc(2024, 3, 1), utc(2024, 3, 1), utc(2024, 4, 1)),
        ("MONTH", utc(2023, 12, 31, 23, 59), utc(2023, 12, 1), utc(2024, 1, 1)),
        ("MONTH", utc(2024, 1, 31), utc(2024, 1, 1), utc(2024, 2, 1)),
        ("MONTH", utc(2024, 2, 29, 23), utc(2024, 2, 1), utc(2024, 3, 1)),
        ("MONTH", utc(2023, 2, 28, 23), utc(2023, 2, 1), utc(2023, 3, 1)),
    ],
)
def test_bounds(period: Period, now: datetime, start: datetime, end: datetime) -> None:
    assert period_bounds(period, now) == (start, end)


def test_month_lengths_follow_leap_years() -> None:
    def february(year: int) -> int:
        start, end = period_bounds("MONTH", utc(year, 2, 10))
        return (end - start).days

    assert [february(year) for year in (2023, 2024, 2000, 2100)] == [28, 29, 29, 28]


def test_every_instant_of_a_year_falls_in_exactly_one_period() -> None:
    for period in ("DAY", "WEEK", "MONTH"):
        moment = utc(2023, 12, 25)
        while moment < utc(2025, 1, 10):
            start, end = period_bounds(period, moment)
            assert start <= moment < end
            assert period_bounds(period, end - timedelta(microseconds=1)) == (start, end)
            assert period_bounds(period, end)[0] == end
            moment += timedelta(hours=7)


def test_other_time_zones_are_converted_to_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    # 2024-03-01 05:00 in Tokyo is still February in UTC.
    assert period_bounds("MONTH", datetime(2024, 3, 1, 5, tzinfo=tokyo)) == (utc(2024, 2, 1), utc(2024, 3, 1))
    assert period_bounds("DAY", datetime(2024, 3, 1, 5, tzinfo=tokyo))[0].tzinfo == UTC


def test_naive_datetimes_and_unknown_periods_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        period_bounds("DAY", datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="unknown quota period 'YEAR'"):
        period_bounds("YEAR", utc(2024, 1, 1))  # type: ignore[arg-type]


def test_offset_applies_in_the_initial_period_only() -> None:
    first = utc(2024, 3, 1)
    assert effective_limit(1000, 100, first, first) == 900
    assert effective_limit(1000, 100, utc(2024, 4, 1), first) == 1000
    assert effective_limit(1000, 0, first, first) == 1000
    assert effective_limit(10, 25, first, first) == 0
