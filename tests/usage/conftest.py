"""Fixtures for the usage tests: a real SQLite file per test, and a real Redis with a unique key prefix per test
(its keys are deleted afterwards). Redis tests are skipped, with the reason, when no Redis answers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from fastgw.usage.store import RedisUsageStore, SqliteUsageStore, UsageStore

REDIS_URL = os.environ.get("FASTGW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
#: Nothing listens here: connections are refused at once.
CLOSED_REDIS_URL = "redis://127.0.0.1:1"

StoreFactory = Callable[[], UsageStore]


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        client.close()
        pytest.skip(f"no Redis at {REDIS_URL} (set FASTGW_TEST_REDIS_URL)")
    prefix = f"fastgw-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    stale = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if stale:
        client.delete(*stale)
    client.close()


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, state_path: Path) -> StoreFactory:
    """Opens a new store (a new connection) each call: call it inside the test's event loop."""
    if request.param == "sqlite":
        return lambda: SqliteUsageStore(state_path)
    prefix = request.getfixturevalue("redis_prefix")
    return lambda: RedisUsageStore(REDIS_URL, prefix)
