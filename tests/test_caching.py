"""WorkerCache's background refresh of stale entries (stale-while-revalidate): single flight, and a failed
refresh logged without the error's text."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from fastgw._core import Engine, Forward
from fastgw.caching import WorkerCache
from fastgw.errors import IntegrationTimeoutError
from fastgw.integrations.base import Response


def cached_engine() -> tuple[Engine, Forward]:
    """A REST engine caching GET /items, and the Forward of a miss (with its cache key)."""
    engine = Engine(
        "REST", [("GET", "/items")], cache=(1 << 20, 1 << 20, [(60.0, "items", [], False, "allowed")], None, 0)
    )
    decision = engine.admit("GET", "/items")
    assert isinstance(decision, Forward) and decision.cache_key is not None
    return engine, decision


def test_one_refresh_per_key_at_a_time_and_it_stores_the_response() -> None:
    engine, decision = cached_engine()
    calls = 0

    async def answer() -> Response:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return Response(200, [("content-type", "text/plain")], b"new")

    async def scenario() -> None:
        cache = WorkerCache()
        assert decision.cache_key is not None
        for _ in range(5):
            cache.refresh(engine, decision.route_id, decision.cache_key, answer, "GET /items")
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert calls == 1
    assert engine.cache_entries == 1


@pytest.mark.parametrize(
    ("outcome", "logged"),
    [
        (IntegrationTimeoutError("timed out calling http://secret@backend/?token=x"), "IntegrationTimeoutError"),
        (Response(503, [], b"down"), "the backend answered 503"),
    ],
)
def test_a_failed_refresh_is_logged_without_secrets_and_frees_the_key(
    caplog: pytest.LogCaptureFixture, outcome: Any, logged: str
) -> None:
    engine, decision = cached_engine()
    calls = 0

    async def answer() -> Response:
        nonlocal calls
        calls += 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[no-any-return]

    async def scenario() -> None:
        cache = WorkerCache()
        assert decision.cache_key is not None
        cache.refresh(engine, decision.route_id, decision.cache_key, answer, "GET /items")
        await asyncio.sleep(0.01)
        cache.refresh(engine, decision.route_id, decision.cache_key, answer, "GET /items")  # tried again
        await asyncio.sleep(0.01)

    with caplog.at_level(logging.WARNING, logger="fastgw.cache"):
        asyncio.run(scenario())
    assert calls == 2
    assert engine.cache_entries == 0
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2 and all(f"GET /items not refreshed: {logged}" in m for m in messages)
    assert not any("secret" in m or "token" in m for m in messages)
