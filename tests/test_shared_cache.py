"""The shared cache tier's pieces without a gateway: the value format, and a Redis that is down."""

from __future__ import annotations

import asyncio
import logging

import pytest

from fastgw.integrations.base import Response
from fastgw.shared_cache import SharedStage, SharedTier, decode, encode

#: Nothing listens here: connections are refused at once.
CLOSED_REDIS_URL = "redis://:secret-password@127.0.0.1:1/0"


def test_values_keep_status_headers_and_the_raw_body() -> None:
    body = b"\n\x00{binary}\n" * 3
    response = Response(203, [("content-type", "application/octet-stream"), ("x-a", "1\u00e9")], body)
    found = decode(encode(response))
    assert found is not None
    assert (found.status, found.headers, found.body) == (203, response.headers, body)
    assert decode(b"2" + encode(response)[1:]) is None  # another format: a miss


def test_keys_share_a_hash_tag_per_stage() -> None:
    stage = SharedStage.for_stage("fastgw:", "pets", "prod", [60.0, None])
    assert stage.generation_key == b"fastgw:cache:{pets/prod}:gen"
    assert stage.entry_prefix == b"fastgw:cache:{pets/prod}:"


def test_redis_down_is_a_counted_miss_logged_once_without_the_url(caplog: pytest.LogCaptureFixture) -> None:
    fallbacks: list[None] = []
    now = [0.0]
    stage = SharedStage.for_stage("t:", "pets", "prod", [60.0])

    async def run() -> None:
        tier = SharedTier(CLOSED_REDIS_URL, on_fallback=lambda: fallbacks.append(None), clock=lambda: now[0])
        try:
            assert await tier.lookup(stage, b"key") is None
            assert not tier.health.is_up  # the circuit breaker: the next requests do not try
            assert await tier.lookup(stage, b"key") is None
            now[0] = 1.0  # after the back-off: tried again, failed again, not logged again
            assert await tier.lookup(stage, b"key") is None
        finally:
            await tier.close()

    with caplog.at_level(logging.WARNING, logger="fastgw.cache"):
        asyncio.run(run())
    assert len(fallbacks) == 3
    warnings = [r.getMessage() for r in caplog.records if "shared cache tier" in r.getMessage()]
    assert len(warnings) == 1 and "secret-password" not in warnings[0] and "127.0.0.1" not in warnings[0]
