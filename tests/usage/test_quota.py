"""QuotaLedger: blocks reserved ahead and spent locally, adaptive block size, period rollover, the offset, and
the crash bound (a crash never admits beyond the quota and loses at most one block)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fastgw.usage.quota import QuotaLedger, QuotaPlan
from fastgw.usage.store import RedisUsageStore, SqliteUsageStore, StoreUnavailableError
from tests.usage.conftest import CLOSED_REDIS_URL, StoreFactory

NOON = datetime(2024, 5, 1, 12, tzinfo=UTC)
TODAY = datetime(2024, 5, 1, tzinfo=UTC)  # the period start the counters are kept under
GOLD = QuotaPlan("gold", limit=1000, period="DAY")


class CountingStore(SqliteUsageStore):
    """The SQLite store, counting the reservations the ledger makes."""

    reserves = 0

    async def reserve(self, *args: Any, **kwargs: Any) -> int:
        self.reserves += 1
        return await super().reserve(*args, **kwargs)


async def admit_all(ledger: QuotaLedger, plan: QuotaPlan, now: datetime, key_id: str = "key") -> int:
    """Acquire until refused; returns how many were admitted."""
    admitted = 0
    while await ledger.acquire(key_id, plan, now):
        admitted += 1
    return admitted


def test_blocks_are_reserved_ahead_and_spent_locally(state_path: Path) -> None:
    async def scenario() -> None:
        store = CountingStore(state_path)
        ledger = QuotaLedger(store, max_block=10)
        assert ledger.try_take("key", "gold", NOON) is None  # nothing reserved yet
        assert await ledger.acquire("key", GOLD, NOON)
        assert store.reserves == 1
        assert await store.usage("key", "gold", TODAY) == 10  # counted before being admitted
        assert [ledger.try_take("key", "gold", NOON) for _ in range(10)] == [True] * 9 + [None]
        assert await ledger.acquire("key", GOLD, NOON)
        assert (store.reserves, ledger.unused()) == (2, 9)
        assert await store.usage("key", "gold", TODAY) == 20
        assert ledger.try_take("other-key", "gold", NOON) is None
        await store.close()

    asyncio.run(scenario())


def test_admits_exactly_the_limit_then_refuses_locally_and_rechecks_later(state_path: Path) -> None:
    async def scenario() -> None:
        store = CountingStore(state_path)
        ledger = QuotaLedger(store, max_block=10, recheck_after=5)
        plan = QuotaPlan("gold", limit=25, period="DAY")
        assert await admit_all(ledger, plan, NOON) == 25
        assert await store.usage("key", "gold", TODAY) == 25
        reserves = store.reserves
        assert ledger.try_take("key", "gold", NOON) is False  # known exhausted: no store call
        assert not await ledger.acquire("key", plan, NOON + timedelta(seconds=4))
        assert store.reserves == reserves
        later = NOON + timedelta(seconds=6)
        assert ledger.try_take("key", "gold", later) is None  # time to ask the store again
        assert not await ledger.acquire("key", plan, later)
        assert store.reserves == reserves + 1
        await store.close()

    asyncio.run(scenario())


def test_requests_given_back_by_one_worker_are_found_by_another_on_recheck(state_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteUsageStore(state_path)
        plan = QuotaPlan("gold", limit=40, period="DAY")
        first, second = QuotaLedger(store, max_block=10), QuotaLedger(store, max_block=10, recheck_after=5)
        assert await first.acquire("key", plan, NOON)  # holds 9 more
        assert await admit_all(second, plan, NOON) == 30
        await first.release_unused()  # graceful shutdown
        assert await admit_all(second, plan, NOON + timedelta(seconds=6)) == 9
        assert await store.usage("key", "gold", TODAY) == 40
        await store.close()

    asyncio.run(scenario())


def test_blocks_shrink_to_one_near_the_limit(state_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteUsageStore(state_path)
        ledger = QuotaLedger(store, expected_workers=2, max_block=50)  # blocks: <= 1/8 of what is left
        plan = QuotaPlan("gold", limit=100, period="DAY")
        blocks: list[int] = []
        while await ledger.acquire("key", plan, NOON):
            blocks.append(ledger.unused() + 1)
            while ledger.try_take("key", "gold", NOON):
                pass
        assert sum(blocks) == 100
        assert blocks[:3] == [12, 11, 9]  # 100 // 8, 88 // 8, 77 // 8
        assert blocks[-8:] == [1] * 8
        await store.close()

    asyncio.run(scenario())


def test_a_new_period_starts_afresh_and_gives_back_the_old_allowance(state_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteUsageStore(state_path)
        ledger = QuotaLedger(store, max_block=10)
        plan = QuotaPlan("gold", limit=100, period="DAY")
        late = datetime(2024, 5, 1, 23, 59, 59, tzinfo=UTC)
        for _ in range(3):
            assert await ledger.acquire("key", plan, late)
        assert await store.usage("key", "gold", TODAY) == 10
        midnight = datetime(2024, 5, 2, tzinfo=UTC)
        assert ledger.try_take("key", "gold", midnight) is None  # the allowance belongs to yesterday
        assert await ledger.acquire("key", plan, midnight)
        assert await store.usage("key", "gold", TODAY) == 3  # yesterday's 7 unused went back
        assert await store.usage("key", "gold", midnight) == 10
        assert ledger.try_take("key", "gold", midnight + timedelta(hours=1)) is True

        small = QuotaPlan("small", limit=2, period="DAY")
        assert await admit_all(ledger, small, late) == 2
        assert ledger.try_take("key", "small", late) is False
        assert await admit_all(ledger, small, midnight) == 2  # exhausted yesterday, fresh today
        await store.close()

    asyncio.run(scenario())


def test_offset_is_subtracted_in_the_period_of_first_use_only(state_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteUsageStore(state_path)
        plan = QuotaPlan("gold", limit=10, period="MONTH", offset=4)
        may, june = datetime(2024, 5, 20, tzinfo=UTC), datetime(2024, 6, 3, tzinfo=UTC)
        assert await admit_all(QuotaLedger(store), plan, may) == 6
        # A worker started in June learns the first use (May) from the store.
        assert await admit_all(QuotaLedger(store), plan, june) == 10
        # A plan first used in June gets its offset in June.
        assert await admit_all(QuotaLedger(store), QuotaPlan("silver", 10, "MONTH", offset=3), june) == 7
        await store.close()

    asyncio.run(scenario())


def test_graceful_shutdown_releases_the_unused_allowance(state_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteUsageStore(state_path)
        ledger = QuotaLedger(store, max_block=10)
        for key_id in ("a", "b"):
            for _ in range(3):
                assert await ledger.acquire(key_id, GOLD, NOON)
        assert ledger.unused() == 14
        await ledger.release_unused()
        assert ledger.unused() == 0
        assert [await store.usage(key_id, "gold", TODAY) for key_id in ("a", "b")] == [3, 3]
        await store.close()

    asyncio.run(scenario())


def test_a_crash_never_admits_beyond_the_quota_and_loses_at_most_one_block(make_store: StoreFactory) -> None:
    async def scenario() -> None:
        store = make_store()
        plan = QuotaPlan("gold", limit=200, period="DAY")
        max_block = 10
        randomly = random.Random(7)
        admitted = 0
        lost = 0
        for _ in range(30):  # workers that each admit a few requests and crash (dropped, nothing released)
            ledger = QuotaLedger(store, max_block=max_block)
            for _ in range(randomly.randint(1, 15)):
                admitted += await ledger.acquire("key", plan, NOON)
            assert await store.usage("key", "gold", TODAY) <= admitted + lost + max_block
            lost += ledger.unused()
            assert ledger.unused() < max_block
        survivor = QuotaLedger(store, max_block=max_block)
        admitted += await admit_all(survivor, plan, NOON)
        assert await store.usage("key", "gold", TODAY) == 200
        assert admitted + lost == 200  # never beyond the quota; what is missing is what the crashes lost
        await store.close()

    asyncio.run(scenario())


def test_several_workers_together_admit_exactly_the_quota(state_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteUsageStore(state_path)
        plan = QuotaPlan("gold", limit=500, period="DAY")
        ledgers = [QuotaLedger(store, expected_workers=3, max_block=20) for _ in range(3)]

        async def worker(ledger: QuotaLedger) -> int:
            admitted = 0
            while await ledger.acquire("key", plan, NOON):
                admitted += 1
                await asyncio.sleep(0)
            return admitted

        admitted = await asyncio.gather(*(worker(ledger) for ledger in ledgers))
        assert sum(admitted) == 500 and min(admitted) > 0
        await store.close()

    asyncio.run(scenario())


def test_concurrent_requests_wait_for_one_reservation(state_path: Path) -> None:
    async def scenario() -> None:
        store = CountingStore(state_path)
        ledger = QuotaLedger(store, max_block=10)
        results = await asyncio.gather(*(ledger.acquire("key", GOLD, NOON) for _ in range(20)))
        assert all(results)
        assert store.reserves == 2
        await store.close()

    asyncio.run(scenario())


def test_store_unavailable_propagates() -> None:
    async def scenario() -> None:
        store = RedisUsageStore(CLOSED_REDIS_URL)
        ledger = QuotaLedger(store)
        with pytest.raises(StoreUnavailableError):
            await ledger.acquire("key", GOLD, NOON)
        assert ledger.try_take("key", "gold", NOON) is None
        await store.close()

    asyncio.run(scenario())


def test_bad_settings_are_refused(state_path: Path) -> None:
    store = SqliteUsageStore(state_path)
    with pytest.raises(ValueError, match="at least 1"):
        QuotaLedger(store, max_block=0)
    asyncio.run(store.close())
