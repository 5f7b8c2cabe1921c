"""The shared cache tier (``cacheSharedTier``): two gateways and one Redis, through real servers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import GatewayFactory, Process, RedisServer, call, free_port, run_cli
from tests.e2e.test_cache import cached_api, hits, served_by_backend

TOKEN = "t" * 32


def shared_config(tmp_path: Path, backend_port: int, redis_url: str, **method_settings: Any) -> Path:
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(cached_api(backend_port), sort_keys=False))
    stage = {
        "cacheClusterEnabled": True,
        "cacheSharedTier": True,
        "methodSettings": {"*/*": {"cacheTtlInSeconds": 60, **method_settings}},
    }
    config = {
        "apis": {"items": {"definition": "api.yaml", "stages": {"prod": stage}}},
        "mappings": [{"api": "items", "stage": "prod", "basePath": ""}],
        "redis": {"url": redis_url, "keyPrefix": "t:"},
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start(gateway: GatewayFactory, path: Path) -> tuple[Process, int]:
    admin = free_port()
    process = gateway.start(path, "--metrics-port", str(admin), env={"FASTGW_ADMIN_TOKEN": TOKEN})
    return process, admin


def wait_for_entries(redis_url: str, count: int) -> None:
    """The write to Redis runs after the answer: wait for it (a few milliseconds)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 3
        while len(list(client.scan_iter(match="t:cache:*:[0-9]*:*"))) < count:
            assert time.monotonic() < deadline, "the response was not written to Redis"
            time.sleep(0.02)
    finally:
        client.close()


def test_a_response_fetched_by_one_gateway_is_served_by_another_until_a_flush(
    gateway: GatewayFactory, backend: Process, tmp_path: Path, redis_server: RedisServer
) -> None:
    import urllib.request

    path = shared_config(tmp_path, backend.port, redis_server.url)
    (first, first_admin), (second, _) = start(gateway, path), start(gateway, path)
    before = hits(backend)
    fetched = served_by_backend(backend, first.call("GET", "/items?type=a"))
    wait_for_entries(redis_server.url, 1)
    shared = second.call("GET", "/items?type=a")
    assert served_by_backend(backend, shared) == fetched
    assert shared.header("content-type") == "application/json; charset=utf-8"
    assert served_by_backend(backend, second.call("GET", "/items?type=a")) == fetched  # now in its own cache
    assert hits(backend) == before + 1

    request = urllib.request.Request(
        f"http://127.0.0.1:{first_admin}/admin/cache/flush",
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
    refetched = served_by_backend(backend, first.call("GET", "/items?type=a"))
    assert refetched > fetched
    wait_for_entries(redis_server.url, 2)
    time.sleep(1.5)  # the second gateway's workers see the new generation (read once a second) and flush
    assert served_by_backend(backend, second.call("GET", "/items?type=a")) == refetched
    assert hits(backend) == before + 2


def test_redis_down_answers_from_the_backend_without_hanging(
    gateway: GatewayFactory, backend: Process, tmp_path: Path, redis_server: RedisServer
) -> None:
    path = shared_config(tmp_path, backend.port, redis_server.url)
    process, admin = start(gateway, path)
    assert process.call("GET", "/items?type=up").status == 200
    redis_server.kill()
    started = time.monotonic()
    for index in range(5):
        reply = process.call("GET", f"/items?type=down{index}")
        assert reply.status == 200, reply.body
    # One timeout at most (0.2 s), then the circuit breaker skips Redis; connections are refused at once anyway.
    assert time.monotonic() - started < 3
    again = process.call("GET", "/items?type=down0")  # the worker's own cache still works
    assert again.status == 200
    assert "shared cache tier (Redis) unavailable" in process.output()
    # A flush empties the workers but cannot reach the shared tier: the CLI says so and fails.
    flushed = run_cli("cache", "flush", "--admin-url", f"http://127.0.0.1:{admin}", "--token", TOKEN)
    assert flushed.returncode == 1
    assert "flushed: items/prod" in flushed.stdout
    assert "shared cache tier (Redis) was not flushed for items/prod" in flushed.stderr


@pytest.mark.parametrize("may_refresh", [False, True], ids=["unauthorized", "authorized"])
def test_max_age_zero_skips_the_shared_tier_only_when_the_client_may_refresh(
    gateway: GatewayFactory, backend: Process, tmp_path: Path, redis_server: RedisServer, may_refresh: bool
) -> None:
    """An ignored ``max-age=0`` (the default strategy: answered from the cache, with a warning) is answered from
    the shared entry too; an allowed one reaches the backend."""
    setting = {"requireAuthorizationForCacheControl": False} if may_refresh else {}
    path = shared_config(tmp_path, backend.port, redis_server.url, **setting)
    (first, _), (second, _) = start(gateway, path), start(gateway, path)
    fetched = served_by_backend(backend, first.call("GET", "/items?type=r"))
    wait_for_entries(redis_server.url, 1)
    before = hits(backend)
    reply = second.call("GET", "/items?type=r", headers={"Cache-Control": "max-age=0"})
    assert (served_by_backend(backend, reply) != fetched) == may_refresh
    assert hits(backend) == before + (1 if may_refresh else 0)


def test_an_answer_from_the_shared_tier_counts_as_a_cache_hit(
    gateway: GatewayFactory, backend: Process, tmp_path: Path, redis_server: RedisServer
) -> None:
    """Issue 18, item 17b: a response served from the shared tier (no backend call) was counted as a cache miss.
    It is a hit (CloudWatch's CacheHitCount counts what the cache answered); a miss is a call to the backend."""
    from prometheus_client.parser import text_string_to_metric_families

    def counted(name: str) -> float:
        text = call(second_metrics, "GET", "/metrics").body.decode()
        families = text_string_to_metric_families(text)
        return sum(s.value for family in families for s in family.samples if s.name == name)

    path = shared_config(tmp_path, backend.port, redis_server.url)
    first, _ = start(gateway, path)
    second, second_metrics = start(gateway, path)
    fetched = served_by_backend(backend, first.call("GET", "/items?type=shared"))
    wait_for_entries(redis_server.url, 1)
    assert served_by_backend(backend, second.call("GET", "/items?type=shared")) == fetched  # from Redis
    assert (counted("fastgw_cache_hits_total"), counted("fastgw_cache_misses_total")) == (1, 0)
    served_by_backend(backend, second.call("GET", "/items?type=own"))  # neither here nor in Redis: a miss
    assert (counted("fastgw_cache_hits_total"), counted("fastgw_cache_misses_total")) == (1, 1)
