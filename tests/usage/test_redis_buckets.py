"""Token buckets in Redis (the Lua script, with injected and with Redis's own time), leases shared by two
"nodes", levels, lease expiry, and the circuit breaker."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from fastgw.usage.redis_buckets import (
    Grant,
    LeasedBuckets,
    OutageLog,
    RedisBuckets,
    RedisHealth,
    idle_expiry,
    lease_size,
)
from fastgw.usage.store import StoreUnavailableError, connect_redis
from tests.usage.conftest import CLOSED_REDIS_URL, REDIS_URL

T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingBuckets(RedisBuckets):
    """Counts script calls; ``failing`` makes every call fail as if Redis were down."""

    calls = 0
    failing = False

    async def take(self, *args: Any, **kwargs: Any) -> Grant:
        self.calls += 1
        if self.failing:
            raise StoreUnavailableError("Redis unavailable (test)")
        return await super().take(*args, **kwargs)


def test_bucket_starts_full_refills_at_the_rate_and_never_beyond_the_burst(redis_prefix: str) -> None:
    async def scenario() -> None:
        client = connect_redis(REDIS_URL)
        buckets = RedisBuckets(client, redis_prefix)
        assert await buckets.take("b", 10, 20, 25, now=T0) == Grant(20, 0.1)
        assert await buckets.take("b", 10, 20, 1, now=T0) == Grant(0, 0.1)
        assert (await buckets.take("b", 10, 20, 100, now=T0 + 0.5)).tokens == 5
        grant = await buckets.take("b", 10, 20, 100, now=T0 + 0.55)
        assert grant.tokens == 0 and grant.retry_after == pytest.approx(0.05, abs=0.001)
        assert (await buckets.take("b", 10, 20, 3, now=T0 + 100)).tokens == 3
        assert (await buckets.take("b", 10, 20, 100, now=T0 + 100)).tokens == 17  # capped at the burst
        assert (await buckets.take("b", 10, 20, 100, now=T0 + 99)).tokens == 0  # time going back adds nothing
        assert 59_000 < await client.pttl(f"{redis_prefix}bucket:b") <= 60_000
        assert (await buckets.take("slow", 1, 100, 1, now=T0)).tokens == 1
        assert 199_000 < await client.pttl(f"{redis_prefix}bucket:slow") <= 200_000
        assert await buckets.take("never", 0, 2, 5, now=T0) == Grant(2, None)  # rate 0: never refills
        await client.aclose()

    asyncio.run(scenario())


def test_bucket_uses_redis_time(redis_prefix: str) -> None:
    async def scenario() -> None:
        client = connect_redis(REDIS_URL)
        buckets = RedisBuckets(client, redis_prefix)
        assert (await buckets.take("b", 20, 10, 10)).tokens == 10
        await asyncio.sleep(0.25)
        assert 4 <= (await buckets.take("b", 20, 10, 100)).tokens <= 6
        await client.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("rate", "burst", "size"),
    [(10_000, 5_000, 200), (1_000, 500, 20), (100, 50, 2), (10, 20, 1), (1_000, 5, 1), (0, 100, 1), (49, 1000, 1)],
)
def test_lease_size(rate: float, burst: int, size: int) -> None:
    assert lease_size(rate, burst) == size


def test_idle_expiry() -> None:
    assert idle_expiry(10, 20) == 60
    assert idle_expiry(1, 100) == 200
    assert idle_expiry(0, 100) == 60


def test_two_nodes_sharing_a_bucket_admit_within_ten_percent(redis_prefix: str) -> None:
    rate, burst, duration = 200.0, 40, 1.0

    async def node(leased: LeasedBuckets, deadline: float) -> int:
        admitted = 0
        while time.monotonic() < deadline:
            if await leased.admit([("shared", rate, burst)]) is None:
                admitted += 1
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(0.001)
        return admitted

    async def scenario() -> tuple[list[int], float]:
        clients = [connect_redis(REDIS_URL), connect_redis(REDIS_URL)]
        nodes = [LeasedBuckets(RedisBuckets(client, redis_prefix)) for client in clients]
        started = time.monotonic()
        deadline = started + duration
        admitted = await asyncio.gather(*(node(leased, deadline) for leased in nodes for _ in range(3)))
        elapsed = time.monotonic() - started
        for client in clients:
            await client.aclose()
        return admitted, elapsed

    admitted, elapsed = asyncio.run(scenario())
    expected = burst + rate * elapsed
    assert sum(admitted) == pytest.approx(expected, rel=0.1), (admitted, expected)
    assert sum(admitted[:3]) > 0 and sum(admitted[3:]) > 0


def test_a_later_level_refusing_keeps_the_earlier_leases_locally(redis_prefix: str) -> None:
    async def scenario() -> None:
        client = connect_redis(REDIS_URL)
        buckets = CountingBuckets(client, redis_prefix)
        leased = LeasedBuckets(buckets)
        plan, method = ("plan", 1000.0, 100), ("method", 0.001, 1)  # leases of 10 and 1
        assert await leased.admit([plan, method]) is None
        assert buckets.calls == 2
        assert await leased.admit([plan, method]) == 1  # the method's bucket is empty
        assert buckets.calls == 3
        tokens = float(await client.hget(f"{redis_prefix}bucket:plan", "tokens") or 0)
        assert 90 <= tokens < 91  # one lease of 10 left Redis, nothing was refunded
        assert await leased.admit([plan, method]) == 1  # refusal remembered: no script call
        assert buckets.calls == 3
        for _ in range(9):  # the plan's lease still holds 9 tokens
            assert await leased.admit([plan]) is None
        assert buckets.calls == 3
        assert await leased.admit([plan]) is None
        assert buckets.calls == 4
        await client.aclose()

    asyncio.run(scenario())


def test_unused_leased_tokens_expire(redis_prefix: str) -> None:
    async def scenario() -> None:
        client = connect_redis(REDIS_URL)
        buckets = CountingBuckets(client, redis_prefix)
        clock = FakeClock()
        leased = LeasedBuckets(buckets, clock=clock)
        check = [("b", 1000.0, 100)]
        assert await leased.admit(check) is None
        clock.now += 0.9
        assert await leased.admit(check) is None
        assert buckets.calls == 1
        clock.now += 0.2  # the lease is 1.1 s old: its 8 tokens are dropped, a new lease is taken
        assert await leased.admit(check) is None
        assert buckets.calls == 2
        await client.aclose()

    asyncio.run(scenario())


def test_health_backs_off_from_half_a_second_doubling_to_five() -> None:
    clock = FakeClock()
    health = RedisHealth(clock=clock)
    assert health.is_up
    backoffs: list[float] = []
    for _ in range(7):
        health.record_failure()
        started = clock.now
        assert not health.is_up
        health.record_failure()  # failures while down (calls in flight together) do not lengthen it
        while not health.is_up:
            clock.now += 0.25
        backoffs.append(clock.now - started)
    assert backoffs == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert health.failures == 14
    health.record_success()
    health.record_failure()
    clock.now += 0.5
    assert health.is_up  # back to the first back-off after a success


def test_redis_down_fails_fast_then_skips_redis_during_the_back_off() -> None:
    async def scenario() -> None:
        client = connect_redis(CLOSED_REDIS_URL)
        buckets = CountingBuckets(client)
        clock = FakeClock()
        leased = LeasedBuckets(buckets, clock=clock)
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="Redis unavailable"):
            await leased.admit([("b", 100.0, 100)])
        assert time.monotonic() - started < 1
        with pytest.raises(StoreUnavailableError, match="marked down"):
            await leased.admit([("b", 100.0, 100)])
        assert (buckets.calls, leased.health.failures, leased.health.fallbacks) == (1, 1, 2)
        clock.now += 0.5
        with pytest.raises(StoreUnavailableError, match="Redis unavailable"):
            await leased.admit([("b", 100.0, 100)])
        assert buckets.calls == 2
        await client.aclose()

    asyncio.run(scenario())


def test_leases_are_spent_while_redis_is_down(redis_prefix: str) -> None:
    async def scenario() -> None:
        client = connect_redis(REDIS_URL)
        buckets = CountingBuckets(client, redis_prefix)
        leased = LeasedBuckets(buckets)
        check = [("b", 1000.0, 100)]  # leases of 10
        assert await leased.admit(check) is None
        buckets.failing = True
        for _ in range(9):
            assert await leased.admit(check) is None
        with pytest.raises(StoreUnavailableError):
            await leased.admit(check)
        assert not leased.health.is_up
        await client.aclose()

    asyncio.run(scenario())


def test_an_outage_is_logged_once_per_interval_with_the_lines_left_out(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 18, item 9: one line per 10 s, however many requests go without Redis meanwhile."""
    import logging

    clock = FakeClock()
    outage = OutageLog(logging.getLogger("fastgw.test"), clock=clock)
    with caplog.at_level(logging.WARNING, "fastgw.test"):
        for _ in range(1000):
            outage.warning("Redis unavailable (%s)", "refused")
            clock.now += 0.005  # 5 s in all
        clock.now = 1010.0  # 10 s after the first line
        outage.warning("Redis unavailable (%s)", "refused")
    assert caplog.messages == [
        "Redis unavailable (refused)",
        "Redis unavailable (refused) (999 more since the last such line)",
    ]
