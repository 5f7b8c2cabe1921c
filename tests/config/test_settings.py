"""Operational settings in the gateway config file: throttling, method settings, usage plans, keys, services."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

from fastgw.config.gateway_file import load_gateway_file
from fastgw.config.model import Route
from fastgw.config.settings import (
    MethodSetting,
    Quota,
    RouteSelector,
    Throttle,
    check_route_selectors,
    parse_method_selector,
    parse_route_key_selector,
)
from fastgw.errors import Place

SWAGGER = "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n"
KEY = "abcdefghijklmnopqrstuvwxyz0123"


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    (tmp_path / "a.yaml").write_text(SWAGGER)
    path = tmp_path / "gateway.yaml"
    path.write_text(textwrap.dedent(text))
    return load_gateway_file(path)


def route(method: str, path: str) -> Route:
    return Route(method, path, Place("a.yaml"), None)


def test_stage_settings_in_every_aws_shape(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        apis:
          a:
            definition: a.yaml
            stages:
              prod:
                throttling: {rateLimit: 100, burstLimit: 50}
                methodSettings:
                  "*/*": {cachingEnabled: true, cacheTtlInSeconds: 60}
                  "pets/GET": {throttlingBurstLimit: 5}
                  "pets~1{id}/GET": {cacheTtlInSeconds: 10, unauthorizedCacheControlHeaderStrategy: FAIL_WITH_403}
                routeSettings:
                  "POST /pets": {throttlingRateLimit: 2.5, throttlingBurstLimit: 3}
                cacheClusterEnabled: true
                cacheClusterSize: "1.6"
                accessLogSettings: {format: "$context.requestId"}
        """,
    )
    settings = config.apis["a"].stages["prod"].settings
    assert settings.default == MethodSetting(Throttle(100.0, 50), True, 60)
    assert settings.cache_enabled is True
    assert settings.cache_size_bytes == int(1.6 * 1024**3)
    assert settings.access_log_format == "$context.requestId"
    # A burst alone gets AWS's rate of 10,000; unset fields come from the stage default.
    assert settings.for_route(route("GET", "/pets")) == MethodSetting(Throttle(10_000.0, 5), True, 60)
    assert settings.for_route(route("POST", "/pets")).throttle == Throttle(2.5, 3)
    by_id = settings.for_route(route("GET", "/pets/{id}"))
    assert (by_id.throttle, by_id.cache_ttl, by_id.unauthorized_cache_control_strategy) == (
        Throttle(100.0, 50),
        10,
        "FAIL_WITH_403",
    )
    assert settings.for_route(route("DELETE", "/other")).throttle == Throttle(100.0, 50)


def test_stale_while_revalidate_window(tmp_path: Path) -> None:
    body = """
        apis:
          a:
            definition: a.yaml
            stages:
              prod: {cacheClusterEnabled: true, cacheStaleSeconds: 30}
              dev: {cacheClusterEnabled: true}
        """
    stages = load(tmp_path, body).apis["a"].stages
    assert stages["prod"].settings.cache_stale_seconds == 30
    assert stages["dev"].settings.cache_stale_seconds == 0  # off by default, as AWS has no such thing


def test_shared_cache_tier(tmp_path: Path) -> None:
    body = """
        redis: {url: "redis://127.0.0.1:6379/0"}
        apis:
          a:
            definition: a.yaml
            stages:
              prod: {cacheClusterEnabled: true, cacheSharedTier: true}
              dev: {cacheClusterEnabled: true}
        """
    stages = load(tmp_path, body).apis["a"].stages
    assert stages["prod"].settings.cache_shared_tier is True
    assert stages["dev"].settings.cache_shared_tier is False  # off by default, as AWS has no such thing


def test_selectors() -> None:
    assert parse_method_selector("*/*") == RouteSelector(None, "*", "*/*")
    assert parse_method_selector("/pets/{id}/get") == RouteSelector("/pets/{id}", "GET", "/pets/{id}/get")
    assert parse_method_selector("~1pets~1{id}/GET") == RouteSelector("/pets/{id}", "GET", "~1pets~1{id}/GET")
    assert parse_method_selector("pets") is None
    assert parse_method_selector("pets/FETCH") is None
    assert parse_route_key_selector("$default") == RouteSelector("$default", "ANY", "$default")
    assert parse_route_key_selector("GET pets") is None


def test_a_selector_that_matches_no_route_is_reported(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        apis: {a: {definition: a.yaml, stages: {prod: {methodSettings: {"pest/GET": {throttlingBurstLimit: 1}}}}}}
        """,
    )
    stage = config.apis["a"].stages["prod"]
    (problem,) = check_route_selectors(stage.settings, (route("GET", "/pets"),), stage.place)
    assert problem.place.pointer == "/apis/a/stages/prod/methodSettings/pest~1GET"
    assert problem.message == "'pest/GET' matches no route of the API"


def test_usage_plans_and_keys(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        f"""
        apis: {{a: {{definition: a.yaml, stages: {{prod: {{}}, dev: {{}}}}}}}}
        throttling: {{rateLimit: 500, burstLimit: 100}}
        usagePlans:
          gold:
            throttle: {{rateLimit: 10, burstLimit: 20}}
            quota: {{limit: 1000, period: DAY, offset: 10}}
            apiStages: [{{api: a, stage: prod, throttle: {{"/pets/GET": {{rateLimit: 1, burstLimit: 2}}}}}}]
          silver:
            apiStages: [{{api: a, stage: dev}}]
        apiKeys:
          alice: {{value: {KEY}, usagePlans: [gold, silver]}}
          bob: {{valueSha256: "{"AB" * 32}", enabled: false}}
        state: {{path: state/usage.db}}
        redis: {{url: "redis://:secret@127.0.0.1:6379/0", failurePolicy: closed}}
        metrics: {{port: 9100}}
        accessLogs: {{destination: logs/access.log, format: clf}}
        tracing: {{otlpEndpoint: "http://127.0.0.1:4318/v1/traces"}}
        """,
    )
    node = config.node
    assert node.throttle == Throttle(500.0, 100)
    gold = node.usage_plans["gold"]
    assert gold.throttle == Throttle(10.0, 20)
    assert gold.quota == Quota(1000, "DAY", 10)
    ((selector, throttle, _),) = gold.stages[0].method_throttles
    assert (selector.resource_path, selector.method, throttle) == ("/pets", "GET", Throttle(1.0, 2))
    alice, bob = node.api_keys
    assert alice.value_hash == hashlib.sha256(KEY.encode()).hexdigest()
    assert (alice.enabled, alice.plans) == (True, ("gold", "silver"))
    assert (bob.value_hash, bob.enabled, bob.plans) == ("ab" * 32, False, ())
    assert KEY not in repr(node) and "secret" not in repr(node)  # secrets never reach logs through a repr
    assert node.state_path == str(tmp_path / "state" / "usage.db")
    assert node.redis is not None and node.redis.failure_policy == "closed"
    assert node.metrics is not None and (node.metrics.host, node.metrics.port) == ("127.0.0.1", 9100)
    assert node.access_logs is not None and node.access_logs.destination == str(tmp_path / "logs" / "access.log")
    assert node.otlp_endpoint == "http://127.0.0.1:4318/v1/traces"


def test_a_key_in_two_plans_for_one_stage_is_refused(tmp_path: Path) -> None:
    import pytest

    from fastgw.errors import DefinitionError

    with pytest.raises(DefinitionError) as error:
        load(
            tmp_path,
            f"""
            apis: {{a: {{definition: a.yaml, stages: {{prod: {{}}}}}}}}
            usagePlans:
              gold: {{apiStages: [{{api: a, stage: prod}}]}}
              silver: {{apiStages: [{{api: a, stage: prod}}]}}
            apiKeys: {{alice: {{value: {KEY}, usagePlans: [gold, silver]}}}}
            """,
        )
    (problem,) = error.value.problems
    assert problem.place.pointer == "/apiKeys/alice/usagePlans"
    assert "a key is in at most one plan per stage" in problem.message


def test_redis_url_and_password_from_files(tmp_path: Path) -> None:
    """Issue 18 (secrets): the Redis URL, or only its password, can live in a file of its own (a Docker or
    Kubernetes secret), relative to the gateway file and read again on every reload; neither is ever shown."""
    import pytest

    from fastgw.errors import DefinitionError

    apis = "apis: {a: {definition: a.yaml, stages: {prod: {}}}}\n"
    (tmp_path / "redis-url").write_text("redis://:from-file@127.0.0.1:6379/0\n")
    (tmp_path / "redis-password").write_text("p@ss/word\n")
    config = load(tmp_path, apis + "redis: {urlFile: redis-url, keyPrefix: 'x:'}\n")
    assert config.node.redis is not None
    assert (config.node.redis.url, config.node.redis.key_prefix) == ("redis://:from-file@127.0.0.1:6379/0", "x:")
    config = load(tmp_path, apis + "redis: {url: 'redis://127.0.0.1:6379/0', passwordFile: redis-password}\n")
    assert config.node.redis is not None and config.node.redis.url == "redis://:p%40ss%2Fword@127.0.0.1:6379/0"
    config = load(tmp_path, apis + "redis: {url: 'redis://me@127.0.0.1:6379/0', passwordFile: redis-password}\n")
    assert config.node.redis is not None and config.node.redis.url == "redis://me:p%40ss%2Fword@127.0.0.1:6379/0"

    cases = {
        "redis: {url: 'redis://h', urlFile: redis-url}": ("/redis", "exactly one of 'url' and 'urlFile'"),
        "redis: {urlFile: missing}": ("/redis/urlFile", "cannot read"),
        "redis: {urlFile: redis-url, passwordFile: redis-password}": ("/redis/passwordFile", "has a password already"),
        "redis: {urlFile: redis-password}": ("/redis/urlFile", "must start with redis://"),
    }
    for text, (pointer, message) in cases.items():
        with pytest.raises(DefinitionError) as error:
            load(tmp_path, apis + text + "\n")
        (problem,) = error.value.problems
        assert problem.place.pointer == pointer and message in problem.message, (text, problem)
        assert "from-file" not in str(error.value) and "p@ss" not in str(error.value)
