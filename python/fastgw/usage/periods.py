"""Quota periods, in UTC, and the quota ``offset`` rule.

A usage plan's quota counts requests per key in calendar periods that start at fixed UTC instants:

- ``DAY``: from 00:00 UTC;
- ``WEEK``: from Monday 00:00 UTC. AWS does not document which day its weeks start on; we chose ISO 8601
  weeks (Monday), which Python's ``weekday()`` gives directly;
- ``MONTH``: from the 1st, 00:00 UTC.

Counters are kept per period start, so a new period starts from zero without anyone resetting anything.

``offset``, as the current AWS API reference defines it: "the number of requests subtracted from the given
limit in the initial time period". (Older SDK docs described it as the day the period starts on; we follow
the current reference.) The initial period is the one containing the moment the gateway first used the plan
(stores remember that moment per plan), so :func:`effective_limit` is ``limit - offset`` there and ``limit``
in every later period.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

Period = Literal["DAY", "WEEK", "MONTH"]
PERIODS: tuple[Period, ...] = get_args(Period)


def period_bounds(period: Period, now: datetime) -> tuple[datetime, datetime]:
    """The UTC period containing ``now``, as ``(start, end)``: ``start <= now < end``.

    ``now`` must be timezone-aware (a naive datetime could be local time or UTC: we refuse to guess)."""
    if now.tzinfo is None:
        raise ValueError("period_bounds needs a timezone-aware datetime")
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "DAY":
        return day, day + timedelta(days=1)
    if period == "WEEK":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7)
    if period == "MONTH":
        first = day.replace(day=1)
        following = (
            first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)
        )
        return first, following
    raise ValueError(f"unknown quota period {period!r}: expected one of {', '.join(PERIODS)}")


def effective_limit(limit: int, offset: int, period_start: datetime, first_period_start: datetime) -> int:
    """The quota for the period starting at ``period_start``: ``limit - offset`` (never below 0) in the initial
    period (the one starting at ``first_period_start``, which contains the plan's first use), ``limit`` after."""
    if period_start == first_period_start:
        return max(0, limit - offset)
    return limit
