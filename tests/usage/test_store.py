"""Both stores against the same contract (a real SQLite file, a real Redis), then what each must do under
concurrency: several processes on one SQLite file, many coroutines and two clients on one Redis."""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fastgw.usage.keys import check_key_value, hash_key
from fastgw.usage.store import RedisUsageStore, SqliteUsageStore, StoreUnavailableError, grant_size
from tests.usage.conftest import CLOSED_REDIS_URL, REDIS_URL, StoreFactory

DAY = datetime(2024, 5, 1, tzinfo=UTC)
NEXT_DAY = datetime(2024, 5, 2, tzinfo=UTC)


def test_create_returns_the_value_once_and_stores_only_its_hash(make_store: StoreFactory) -> None:
    async def scenario() -> None:
        store = make_store()
        key, value = await store.create_key("partner", plan="gold", description="the partner's key")
        check_key_value(value)
        assert len(value) == 40
        assert key.value_hash == hash_key(value)
        assert (key.name, key.plan, key.enabled, key.description) == ("partner", "gold", True, "the partner's key")
        assert key.created.tzinfo is not None and abs(key.created - datetime.now(UTC)).total_seconds() < 5
        assert await store.get_key(key.id) == key
        assert await store.get_key("partner") == key
        assert await store.get_key("nobody") is None
        assert await store.find_by_hash(hash_key(value)) == key
        assert await store.find_by_hash(hash_key("x" * 20)) is None

        chosen, chosen_value = await store.create_key("chosen", value="A" * 20, enabled=False)
        assert chosen_value == "A" * 20 and not chosen.enabled and chosen.plan is None
        assert await store.list_keys() == sorted([key, chosen], key=lambda key: (key.created, key.name))
        await store.close()

    asyncio.run(scenario())


def test_duplicates_and_bad_input_are_value_errors(make_store: StoreFactory) -> None:
    async def scenario() -> None:
        store = make_store()
        await store.create_key("one", value="a" * 30)
        with pytest.raises(ValueError, match="named 'one' already exists"):
            await store.create_key("one")
        with pytest.raises(ValueError, match="already has this value"):
            await store.create_key("two", value="a" * 30)
        with pytest.raises(ValueError, match="20 to 128"):
            await store.create_key("three", value="short")
        with pytest.raises(ValueError, match="must not be empty"):
            await store.create_key(" ")
        assert [key.name for key in await store.list_keys()] == ["one"]
        await store.close()

    asyncio.run(scenario())


def test_enable_and_disable_by_id_or_name(make_store: StoreFactory) -> None:
    async def scenario() -> None:
        store = make_store()
        key, value = await store.create_key("partner")
        disabled = await store.set_enabled("partner", False)
        assert disabled is not None and not disabled.enabled and disabled.id == key.id
        found = await store.find_by_hash(hash_key(value))
        assert found is not None and not found.enabled
        enabled = await store.set_enabled(key.id, True)
        assert enabled is not None and enabled.enabled
        assert await store.set_enabled("nobody", False) is None
        await store.close()

    asyncio.run(scenario())


def test_gateways_poll_for_changed_keys(make_store: StoreFactory) -> None:
    async def scenario() -> None:
        admin, gateway = make_store(), make_store()  # two connections, as the CLI and a running gateway
        version, keys = await gateway.keys_changed_since(0)
        assert (version, keys) == (0, [])

        first, _ = await admin.create_key("first")
        second, _ = await admin.create_key("second")
        version, keys = await gateway.keys_changed_since(0)
        assert version == 2 and keys == [first, second]
        assert await gateway.keys_changed_since(version) == (version, [])

        await admin.set_enabled("first", False)
        await admin.set_enabled("first", False)  # no change: no new version
        new_version, keys = await gateway.keys_changed_since(version)
        assert new_version == version + 1
        assert [(key.id, key.enabled) for key in keys] == [(first.id, False)]
        third, _ = await admin.create_key("third")
        assert await gateway.keys_changed_since(new_version) == (new_version + 1, [third])
        await admin.close()
        await gateway.close()

    asyncio.run(scenario())


def test_an_emptied_redis_shows_as_a_lower_version(redis_prefix: str) -> None:
    async def scenario() -> None:
        store = RedisUsageStore(REDIS_URL, redis_prefix)
        await store.create_key("first")
        await store.create_key("second")
        version, _ = await store.keys_changed_since(0)
        assert version == 2
        await store.client.delete(*[key async for key in store.client.scan_iter(f"{redis_prefix}*")])  # a restart
        third, _ = await store.create_key("third")
        assert await store.keys_changed_since(version) == (1, [])  # lower: reload from 0
        assert await store.keys_changed_since(0) == (1, [third])
        await store.close()

    asyncio.run(scenario())


def test_reserve_never_exceeds_the_limit_and_release_gives_back(make_store: StoreFactory) -> None:
    async def scenario() -> None:
        store = make_store()
        assert await store.usage("k1", "gold", DAY) == 0
        assert await store.reserve("k1", "gold", DAY, 10, 4) == 4
        assert await store.reserve("k1", "gold", DAY, 10, 4) == 4
        assert await store.reserve("k1", "gold", DAY, 10, 4) == 2
        assert await store.reserve("k1", "gold", DAY, 10, 4) == 0
        assert await store.usage("k1", "gold", DAY) == 10
        # Other periods, plans and keys count separately.
        assert await store.reserve("k1", "gold", NEXT_DAY, 10, 3) == 3
        assert await store.reserve("k1", "silver", DAY, 10, 3) == 3
        assert await store.reserve("k2", "gold", DAY, 10, 3) == 3
        assert await store.usage("k1", "gold", DAY) == 10

        await store.release("k1", "gold", DAY, 3)
        assert await store.usage("k1", "gold", DAY) == 7
        assert await store.reserve("k1", "gold", DAY, 10, 5) == 3
        await store.release("k1", "gold", NEXT_DAY, 100)
        assert await store.usage("k1", "gold", NEXT_DAY) == 0  # never below 0
        await store.release("unknown", "gold", DAY, 5)
        assert await store.usage("unknown", "gold", DAY) == 0
        # A lower limit (a reloaded plan) grants nothing more, and takes nothing back.
        assert await store.reserve("k2", "gold", DAY, 2, 5) == 0
        assert await store.reserve("k3", "gold", DAY, 0, 5) == 0
        assert await store.reserve("k3", "gold", DAY, 5, 0) == 0
        await store.close()

    asyncio.run(scenario())


def test_reserve_with_share_shrinks_blocks_near_the_limit(make_store: StoreFactory) -> None:
    async def scenario() -> None:
        store = make_store()
        grants = []
        while granted := await store.reserve("k", "gold", DAY, 100, 10, share=4):
            grants.append(granted)
        assert sum(grants) == 100
        assert grants[:3] == [10, 10, 10]  # 100 // 4 = 25 left: max_block wins
        assert grants[-4:] == [1, 1, 1, 1]
        assert grants == [grant_size(sum(grants[:i]), 100, 10, 4) for i in range(len(grants))]
        await store.close()

    asyncio.run(scenario())


def test_plan_first_use_is_recorded_once(make_store: StoreFactory) -> None:
    async def scenario() -> None:
        store = make_store()
        first = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
        assert await store.plan_first_used("gold", first) == first
        assert await store.plan_first_used("gold", datetime(2024, 6, 1, tzinfo=UTC)) == first
        assert await store.plan_first_used("silver", NEXT_DAY) == NEXT_DAY
        await store.close()

    asyncio.run(scenario())


def test_grant_size() -> None:
    assert grant_size(used=0, limit=1000, n=100, share=4) == 100
    assert grant_size(used=900, limit=1000, n=100, share=4) == 25
    assert grant_size(used=998, limit=1000, n=100, share=4) == 1
    assert grant_size(used=999, limit=1000, n=100, share=1) == 1
    assert grant_size(used=1000, limit=1000, n=100, share=1) == 0
    assert grant_size(used=1200, limit=1000, n=100, share=1) == 0


# --- SQLite: several processes ------------------------------------------------------------------------------


def _reserve_in_process(
    path: str, start: multiprocessing.synchronize.Barrier, results: multiprocessing.Queue[int]
) -> None:
    """One worker process: open the (possibly new) file, wait for the others, reserve until refused."""

    async def reserve_all() -> int:
        store = SqliteUsageStore(path, busy_timeout=10)
        start.wait()
        total = 0
        while granted := await store.reserve("key", "gold", DAY, 3000, 3):
            total += granted
        await store.close()
        return total

    results.put(asyncio.run(reserve_all()))


def test_sqlite_reserve_is_atomic_across_processes(state_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(4), context.Queue()
    processes = [context.Process(target=_reserve_in_process, args=(str(state_path), start, results)) for _ in range(4)]
    for process in processes:
        process.start()
    granted = [results.get(timeout=30) for _ in processes]
    for process in processes:
        process.join(timeout=10)
        assert process.exitcode == 0
    assert sum(granted) == 3000
    assert all(share > 0 for share in granted), granted  # they really ran concurrently

    async def usage() -> int:
        store = SqliteUsageStore(state_path)
        used = await store.usage("key", "gold", DAY)
        await store.close()
        return used

    assert asyncio.run(usage()) == 3000


def test_sqlite_uses_wal_and_records_its_schema_version(state_path: Path) -> None:
    asyncio.run(SqliteUsageStore(state_path).close())
    with sqlite3.connect(state_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA user_version").fetchone() == (1,)
    db.close()


def test_sqlite_locked_too_long_is_unavailable(state_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteUsageStore(state_path, busy_timeout=0.1)
        blocker = sqlite3.connect(state_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError, match="locked"):
                await store.reserve("key", "gold", DAY, 10, 1)
            assert time.monotonic() - started < 1
            assert await store.usage("key", "gold", DAY) == 0  # WAL: readers do not wait for the writer
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert await store.reserve("key", "gold", DAY, 10, 1) == 1
        await store.close()

    asyncio.run(scenario())


def test_sqlite_unopenable_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailableError, match="unable to open"):
        SqliteUsageStore(tmp_path / "missing-directory" / "state.db")
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("these are not the tables you are looking for\n" * 100)
    with pytest.raises(StoreUnavailableError, match="file is not a database"):
        SqliteUsageStore(not_a_database)


# --- Redis: many coroutines, two clients, failures -----------------------------------------------------------


def test_redis_reserve_is_atomic_across_clients_and_coroutines(redis_prefix: str) -> None:
    async def scenario() -> None:
        stores = [RedisUsageStore(REDIS_URL, redis_prefix), RedisUsageStore(REDIS_URL, redis_prefix)]

        async def reserve_all(store: RedisUsageStore, n: int) -> int:
            total = 0
            while granted := await store.reserve("key", "gold", DAY, 1000, n):
                total += granted
            return total

        granted = await asyncio.gather(*(reserve_all(stores[i % 2], 1 + i % 7) for i in range(60)))
        assert sum(granted) == 1000
        assert await stores[0].usage("key", "gold", DAY) == 1000
        ttl = await stores[0].client.ttl(f"{redis_prefix}quota:key:{int(DAY.timestamp())}:gold")
        assert 0 < ttl <= 40 * 86400  # counters expire
        for store in stores:
            await store.close()

    asyncio.run(scenario())


def test_redis_down_is_unavailable_at_once() -> None:
    async def scenario() -> None:
        store = RedisUsageStore(CLOSED_REDIS_URL)
        for operation in (
            store.list_keys(),
            store.get_key("x"),
            store.create_key("x"),
            store.keys_changed_since(0),
            store.reserve("k", "gold", DAY, 10, 1),
            store.release("k", "gold", DAY, 1),
            store.usage("k", "gold", DAY),
            store.plan_first_used("gold", DAY),
        ):
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError, match="Redis unavailable"):
                await operation
            assert time.monotonic() - started < 1
        await store.close()

    asyncio.run(scenario())


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers: a hung Redis."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def test_redis_that_does_not_answer_times_out(silent_server: int) -> None:
    async def scenario() -> None:
        store = RedisUsageStore(f"redis://127.0.0.1:{silent_server}", timeout=0.2)
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="Redis unavailable"):
            await store.reserve("k", "gold", DAY, 10, 1)
        assert time.monotonic() - started < 1
        await store.close()

    asyncio.run(scenario())
