"""The stage cache through a real server and a backend that counts its hits (reference §7)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import GatewayFactory, Process, Reply, call, run_cli


def cached_api(backend_port: int, *, path: str = "/items") -> dict[str, Any]:
    """REST: GET and POST /items proxied to ``path`` on the backend; ``type`` is a declared cache key, ``department``
    an undeclared query parameter."""
    integration = {
        "type": "http_proxy",
        "httpMethod": "ANY",
        "uri": f"http://127.0.0.1:{backend_port}{path}",
        "requestParameters": {"integration.request.querystring.type": "method.request.querystring.type"},
        "cacheKeyParameters": ["method.request.querystring.type"],
        "cacheNamespace": "items",
    }
    parameters = [
        {"name": "type", "in": "query", "required": False, "type": "string"},
        {"name": "department", "in": "query", "required": False, "type": "string"},
    ]
    operation = {
        "parameters": parameters,
        "responses": {"200": {"description": "ok"}},
        "x-amazon-apigateway-integration": integration,
    }
    return {
        "swagger": "2.0",
        "info": {"title": "cached", "version": "1"},
        "paths": {"/items": {"get": operation, "post": operation}},
    }


def hits(backend: Process) -> int:
    return int(backend.call("GET", "/_stats").json()["hits"])


def served_by_backend(backend: Process, reply: Reply) -> int:
    """The backend's hit number that produced this (possibly cached) answer."""
    assert reply.status == 200, reply.body
    return int(reply.json()["hits"])


def start(gateway: GatewayFactory, tmp_path: Path, api: dict[str, Any], stage: dict[str, Any], *args: str) -> Process:
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(api, sort_keys=False))
    config = {
        "apis": {"items": {"definition": "api.yaml", "stages": {"prod": stage}}},
        "mappings": [{"api": "items", "stage": "prod", "basePath": ""}],
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return gateway.start(path, *args)


def test_repeated_get_is_served_once_and_keys_follow_the_declared_parameters(
    gateway: GatewayFactory, backend: Process
) -> None:
    process = gateway.start(cached_api(backend.port), "--cache-ttl", "60")
    before = hits(backend)
    first = process.call("GET", "/items?type=a&department=A")
    again = process.call("GET", "/items?type=a&department=A")
    undeclared = process.call("GET", "/items?type=a&department=B")
    assert (
        served_by_backend(backend, first) == served_by_backend(backend, again) == served_by_backend(backend, undeclared)
    )
    assert again.body == first.body and again.header("content-type") == "application/json; charset=utf-8"
    assert again.header("x-amzn-RequestId") != first.header("x-amzn-RequestId")  # ids are per request
    assert hits(backend) == before + 1  # one fetch
    declared = process.call("GET", "/items?type=b")
    assert served_by_backend(backend, declared) != served_by_backend(backend, first)
    # POST is not cached (GET only unless a method setting says otherwise).
    posts = {served_by_backend(backend, process.call("POST", "/items?type=a", body=b"{}")) for _ in range(2)}
    assert len(posts) == 2


def test_a_path_parameter_key_splits_entries_and_the_query_string_does_not(
    gateway: GatewayFactory, backend: Process
) -> None:
    """A key without query-string parameters: the query string never splits the entry (the hit path does not
    even read it)."""
    api = cached_api(backend.port)
    operation = api["paths"]["/items"]["get"]
    integration = operation["x-amazon-apigateway-integration"]
    integration["requestParameters"] = {"integration.request.path.id": "method.request.path.id"}
    integration["cacheKeyParameters"] = ["method.request.path.id"]
    operation["parameters"] = [{"name": "id", "in": "path", "required": True, "type": "string"}]
    api["paths"] = {"/items/{id}": {"get": operation}}
    process = gateway.start(api, "--cache-ttl", "60")
    first = served_by_backend(backend, process.call("GET", "/items/1?type=a"))
    assert served_by_backend(backend, process.call("GET", "/items/1?type=b")) == first
    assert served_by_backend(backend, process.call("GET", "/items/1")) == first
    assert served_by_backend(backend, process.call("GET", "/items/2?type=a")) != first


def test_the_header_limit_applies_to_cache_hits(gateway: GatewayFactory, backend: Process) -> None:
    process = gateway.start(cached_api(backend.port), "--cache-ttl", "60", "--max-header-bytes", "2048")
    first = served_by_backend(backend, process.call("GET", "/items"))
    assert served_by_backend(backend, process.call("GET", "/items")) == first
    oversized = process.call("GET", "/items", headers={"x-big": "x" * 3000})
    assert oversized.status == 431
    assert served_by_backend(backend, process.call("GET", "/items", headers={"x-small": "x" * 1000})) == first


def test_ttl_expiry(gateway: GatewayFactory, backend: Process) -> None:
    process = gateway.start(cached_api(backend.port), "--cache-ttl", "1")
    first = served_by_backend(backend, process.call("GET", "/items"))
    assert served_by_backend(backend, process.call("GET", "/items")) == first
    time.sleep(1.2)
    assert served_by_backend(backend, process.call("GET", "/items")) != first


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"requireAuthorizationForCacheControl": False}, "refreshed"),
        ({"unauthorizedCacheControlHeaderStrategy": "FAIL_WITH_403"}, 403),
        ({"unauthorizedCacheControlHeaderStrategy": "SUCCEED_WITH_RESPONSE_HEADER"}, "cached with warning"),
        ({"unauthorizedCacheControlHeaderStrategy": "SUCCEED_WITHOUT_RESPONSE_HEADER"}, "cached"),
    ],
)
def test_max_age_zero_under_each_strategy(
    gateway: GatewayFactory, backend: Process, tmp_path: Path, setting: dict[str, Any], expected: Any
) -> None:
    stage = {"cacheClusterEnabled": True, "methodSettings": {"*/*": {"cacheTtlInSeconds": 60, **setting}}}
    process = start(gateway, tmp_path, cached_api(backend.port), stage)
    first = served_by_backend(backend, process.call("GET", "/items"))
    reply = process.call("GET", "/items", headers={"Cache-Control": "max-age=0"})
    if expected == 403:
        assert reply.status == 403
        assert reply.header("x-amzn-ErrorType") == "AccessDeniedException"
        return
    served = served_by_backend(backend, reply)
    if expected == "refreshed":
        assert served != first
        assert served_by_backend(backend, process.call("GET", "/items")) == served  # the entry was replaced
    else:
        assert served == first
        assert (reply.header("Warning") is not None) == (expected == "cached with warning")


def test_concurrent_misses_send_one_request(gateway: GatewayFactory, backend: Process) -> None:
    process = gateway.start(cached_api(backend.port, path="/delay/300"), "--cache-ttl", "60")
    before = hits(backend)
    replies: list[Reply] = []
    barrier = threading.Barrier(20)

    def client() -> None:
        barrier.wait()
        replies.append(call(process.port, "GET", "/items?type=same"))

    threads = [threading.Thread(target=client) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status for r in replies] == [200] * 20
    assert len({served_by_backend(backend, r) for r in replies}) == 1
    assert hits(backend) == before + 1  # the one fetch


def test_capacity_and_max_entry_size(gateway: GatewayFactory, backend: Process) -> None:
    """Bodies over 1 MB are not cached (AWS's limit); the stage capacity bounds what is kept."""
    process = gateway.start(cached_api(backend.port, path="/sized/1100000"), "--cache-ttl", "60")
    before = hits(backend)
    for _ in range(2):
        assert len(process.call("GET", "/items").body) == 1_100_000
    assert hits(backend) == before + 2


def test_respecting_backend_no_store_is_an_option(gateway: GatewayFactory, backend: Process) -> None:
    api = cached_api(backend.port, path="/headers")
    api["paths"]["/items"]["get"]["x-amazon-apigateway-integration"]["requestParameters"] = {
        "integration.request.querystring.Cache-Control": "'no-store'"
    }
    aws_like = gateway.start(api, "--cache-ttl", "60")
    first = served_by_backend(backend, aws_like.call("GET", "/items"))
    assert served_by_backend(backend, aws_like.call("GET", "/items")) == first  # AWS caches it anyway
    respectful = gateway.start(api, "--cache-ttl", "60", "--cache-respect-backend")
    first = served_by_backend(backend, respectful.call("GET", "/items"))
    assert served_by_backend(backend, respectful.call("GET", "/items")) != first


def test_flush_from_the_cli(gateway: GatewayFactory, backend: Process, tmp_path: Path) -> None:
    from tests.conftest import free_port

    admin = free_port()
    token = "t" * 32
    process = gateway.start(
        cached_api(backend.port),
        "--cache-ttl",
        "60",
        "--workers",
        "2",
        "--metrics-port",
        str(admin),
        env={"FASTGW_ADMIN_TOKEN": token},
    )
    first = served_by_backend(backend, process.call("GET", "/items"))
    # With two workers each holds its own entry: fill both, then flush both.
    for _ in range(6):
        process.call("GET", "/items")
    url = f"http://127.0.0.1:{admin}"
    refused = run_cli("cache", "flush", "--admin-url", url, "--token", "wrong" * 8)
    assert refused.returncode != 0
    flushed = run_cli("cache", "flush", "--admin-url", url, "--token", token)
    assert flushed.returncode == 0, flushed.stderr
    assert "api/$default" in flushed.stdout
    after = {served_by_backend(backend, process.call("GET", "/items")) for _ in range(6)}
    assert first not in after


def test_throttling_applies_to_cache_hits(gateway: GatewayFactory, backend: Process) -> None:
    """Throttling comes before the cache, as on AWS: a hit still takes a token."""
    process = gateway.start(
        cached_api(backend.port), "--cache-ttl", "60", "--throttle-rate", "0.001", "--throttle-burst", "3"
    )
    replies = [process.call("GET", "/items") for _ in range(4)]
    assert [r.status for r in replies] == [200, 200, 200, 429]
    assert len({served_by_backend(backend, r) for r in replies[:3]}) == 1


# -- stale-while-revalidate (beyond AWS) ----------------------------------------------------------------


def concurrently(process: Process, count: int, path: str) -> list[Reply]:
    replies: list[Reply] = []
    barrier = threading.Barrier(count)

    def client() -> None:
        barrier.wait()
        replies.append(call(process.port, "GET", path))

    threads = [threading.Thread(target=client) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return replies


def wait_for_hits(backend: Process, expected: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while hits(backend) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hits(backend) == expected


def test_stale_while_revalidate_answers_at_once_and_refreshes_once(gateway: GatewayFactory, backend: Process) -> None:
    """TTL 1 s, window 2 s; the backend takes 0.6 s, so the concurrent requests arrive while the refresh runs."""
    process = gateway.start(
        cached_api(backend.port, path="/delay/600"), "--cache-ttl", "1", "--cache-stale-seconds", "2"
    )
    first = process.call("GET", "/items")
    stored = time.monotonic()
    assert first.header("Warning") is None
    before = hits(backend)
    time.sleep(1.1)  # expired, within the window
    replies = concurrently(process, 10, "/items")
    # Every request got the stale entry (none waited for the refresh), marked as stale ...
    assert {served_by_backend(backend, r) for r in replies} == {served_by_backend(backend, first)}
    assert {r.header("Warning") for r in replies} == {'110 - "Response is Stale"'}
    # ... and the backend saw one refresh.
    wait_for_hits(backend, before + 1)
    refreshed = process.call("GET", "/items")
    assert served_by_backend(backend, refreshed) == before + 1
    assert refreshed.header("Warning") is None
    stored = time.monotonic()
    # Past TTL + window without a request: a plain miss (the client waits for the backend).
    time.sleep(max(0.0, stored + 3.1 - time.monotonic()))
    started = time.monotonic()
    missed = process.call("GET", "/items")
    assert time.monotonic() - started >= 0.6
    assert served_by_backend(backend, missed) == before + 2
    assert missed.header("Warning") is None


def test_a_failed_refresh_keeps_serving_the_stale_entry(
    gateway: GatewayFactory, backend: Process, tmp_path: Path
) -> None:
    """The backend's status comes from an undeclared query parameter (``code``), so every request shares the
    entry while the refresh it triggers fails or succeeds as the test chooses."""
    api = cached_api(backend.port, path="/status/{code}")
    operation = api["paths"]["/items"]["get"]
    operation["parameters"].append({"name": "code", "in": "query", "required": False, "type": "string"})
    operation["x-amazon-apigateway-integration"]["requestParameters"]["integration.request.path.code"] = (
        "method.request.querystring.code"
    )
    stage = {"cacheClusterEnabled": True, "cacheStaleSeconds": 3, "methodSettings": {"*/*": {"cacheTtlInSeconds": 1}}}
    process = start(gateway, tmp_path, api, stage)
    first = served_by_backend(backend, process.call("GET", "/items?code=200"))
    time.sleep(1.1)
    before = hits(backend)
    for _ in range(3):
        stale = process.call("GET", "/items?code=500")
        assert served_by_backend(backend, stale) == first
        assert stale.header("Warning") == '110 - "Response is Stale"'
        wait_for_hits(backend, hits(backend))  # let the refresh fail before the next request
        time.sleep(0.1)
    assert hits(backend) > before  # refreshes were tried, one at a time
    assert "not refreshed: the backend answered 500" in process.output()
    # The backend recovers: the next stale request refreshes the entry.
    assert served_by_backend(backend, process.call("GET", "/items?code=200")) == first
    time.sleep(0.3)
    fresh = process.call("GET", "/items?code=500")
    assert served_by_backend(backend, fresh) != first
    assert fresh.header("Warning") is None


def test_a_flush_empties_stale_entries(gateway: GatewayFactory, backend: Process) -> None:
    from tests.conftest import free_port

    admin = free_port()
    token = "t" * 32
    process = gateway.start(
        cached_api(backend.port),
        "--cache-ttl",
        "1",
        "--cache-stale-seconds",
        "30",
        "--metrics-port",
        str(admin),
        env={"FASTGW_ADMIN_TOKEN": token},
    )
    first = served_by_backend(backend, process.call("GET", "/items"))
    time.sleep(1.1)  # expired: stale for 30 s more, unless flushed
    flushed = run_cli("cache", "flush", "--admin-url", f"http://127.0.0.1:{admin}", "--token", token)
    assert flushed.returncode == 0, flushed.stderr
    after = process.call("GET", "/items")
    assert served_by_backend(backend, after) > first
    assert after.header("Warning") is None  # a miss, not the stale entry


def test_stale_answers_count_as_cache_hits(gateway: GatewayFactory, backend: Process) -> None:
    from tests.conftest import free_port
    from tests.e2e.test_observability import sample, scrape

    metrics = free_port()
    process = gateway.start(
        cached_api(backend.port), "--cache-ttl", "1", "--cache-stale-seconds", "5", "--metrics-port", str(metrics)
    )
    process.call("GET", "/items")  # the miss
    time.sleep(1.1)
    stale = process.call("GET", "/items")
    assert stale.header("Warning") == '110 - "Response is Stale"'
    time.sleep(0.3)  # refreshed in the background: not a request, counted as nothing
    assert process.call("GET", "/items").header("Warning") is None
    time.sleep(0.2)
    text = scrape(metrics)
    assert sample(text, "fastgw_cache_hits_total", route="GET /items") == 2
    assert sample(text, "fastgw_cache_misses_total", route="GET /items") == 1
