"""Operational settings of a gateway config file: throttling, caching, usage plans and API keys, state,
Redis, metrics, access logs and tracing (reference §6, §7, §10, §11).

Per stage, in AWS's own shapes (both API types accept every form; pick the one your exports use)::

    stages:
      prod:
        throttling: {rateLimit: 100, burstLimit: 50}          # the stage default (REST `*/*`, HTTP default route)
        defaultRouteSettings: {throttlingRateLimit: 100, throttlingBurstLimit: 50}      # HTTP API shape
        routeSettings: {"GET /pets": {throttlingRateLimit: 10, throttlingBurstLimit: 5}}
        methodSettings:                                      # REST shape: "resourcePath/METHOD", "*/*"
          "*/*": {cachingEnabled: true, cacheTtlInSeconds: 300}
          "pets/GET": {throttlingRateLimit: 10, throttlingBurstLimit: 5, cacheTtlInSeconds: 60}
          "pets~1{petId}/GET": {requireAuthorizationForCacheControl: false}
        cacheClusterEnabled: true
        cacheClusterSize: 0.5                                # GB, one of AWS's sizes, or any number of GB
        cacheStaleSeconds: 30                                # beyond AWS: stale-while-revalidate window (0: off)
        cacheSharedTier: true                                # beyond AWS: a shared cache tier in `redis` (off)
        accessLogSettings: {format: '$context.requestId $context.status'}

At the top::

    throttling: {rateLimit: 10000, burstLimit: 5000}         # gateway-wide (AWS's account level), the default
    usagePlans:
      gold:
        throttle: {rateLimit: 10, burstLimit: 20}
        quota: {limit: 10000, period: MONTH, offset: 0}
        apiStages:
          - {api: petstore, stage: prod, throttle: {"/pets/GET": {rateLimit: 1, burstLimit: 2}}}
    apiKeys:
      alice: {value: "...20-128 letters and digits...", usagePlans: [gold]}   # or valueSha256: <hex>
      bob: {valueSha256: 9f86d0..., enabled: false, usagePlans: [gold]}
    state: {path: fastgw-state.db}      # quota usage and CLI-created keys (SQLite), relative to this file
    redis: {url: "redis://127.0.0.1:6379/0", failurePolicy: open, keyPrefix: "fastgw:"}
    # or urlFile: redis-url (a file holding the URL), and/or passwordFile: redis-password (only the password):
    # secrets kept out of this file (see fastgw.config.secrets); both relative to this file, read on each reload
    metrics: {port: 9090, host: 127.0.0.1}
    accessLogs: {destination: stdout, format: json}          # json | clf | a $context template
    tracing: {otlpEndpoint: "http://127.0.0.1:4318/v1/traces"}

Where AWS fills a value, fastgw does the same: a method setting with only a burst gets AWS's rate 10,000
(reference §6). Route selectors are checked against the API's routes once definitions are loaded
(:func:`check_route_selectors`), so a typo is an error naming its place, never a silently unthrottled route.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from fastgw.config.fields import describe
from fastgw.config.secrets import has_password, read_secret_file, with_password
from fastgw.errors import DefinitionError, Place, Problem

if TYPE_CHECKING:
    from fastgw.config.gateway_file import _Checker
    from fastgw.config.model import Route

CacheControlStrategy = Literal["FAIL_WITH_403", "SUCCEED_WITH_RESPONSE_HEADER", "SUCCEED_WITHOUT_RESPONSE_HEADER"]
QuotaPeriod = Literal["DAY", "WEEK", "MONTH"]
FailurePolicy = Literal["open", "closed"]

#: AWS's account-level default (reference §6): 10,000 requests per second, burst 5,000.
GATEWAY_DEFAULT_RATE = 10_000.0
GATEWAY_DEFAULT_BURST = 5_000
#: AWS fills this rate when a method setting gives only a burst.
AWS_FILLED_RATE = 10_000.0
#: AWS stage cache sizes in GB (``cacheClusterSize``); other positive numbers are accepted as well.
AWS_CACHE_SIZES_GB = (0.5, 1.6, 6.1, 13.5, 28.4, 58.2, 118.0, 237.0)
DEFAULT_CACHE_TTL = 300
MAX_CACHE_TTL = 3600
#: The longest stale-while-revalidate window (``cacheStaleSeconds``), as long as the longest TTL.
MAX_CACHE_STALE_SECONDS = 3600
DEFAULT_CACHE_SIZE_GB = 0.5
MAX_USAGE_PLAN_METHOD_THROTTLES = 20
API_KEY_VALUE_RE = re.compile(r"[A-Za-z0-9]{20,128}")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY", "*")


@dataclass(frozen=True, slots=True)
class Throttle:
    """A token bucket: ``burst`` tokens, refilled at ``rate`` per second."""

    rate: float
    burst: int


@dataclass(frozen=True, slots=True)
class MethodSetting:
    """One ``methodSettings`` entry (or ``routeSettings`` / ``defaultRouteSettings``); ``None`` = not set."""

    throttle: Throttle | None = None
    caching_enabled: bool | None = None
    cache_ttl: int | None = None
    require_authorization_for_cache_control: bool | None = None
    unauthorized_cache_control_strategy: CacheControlStrategy | None = None


@dataclass(frozen=True, slots=True)
class RouteSelector:
    """Which routes a method setting applies to: ``*/*`` (all), or a resource path and method."""

    resource_path: str | None
    """``/pets/{petId}``; ``None`` for every resource."""
    method: str
    """``GET`` ... or ``*``."""
    text: str

    def matches(self, route: Route) -> bool:
        if self.resource_path is not None and self.resource_path != route.path:
            return False
        return self.method == "*" or self.method == route.method


@dataclass(frozen=True, slots=True)
class AccessLogSettings:
    destination: str
    """``stdout`` or a file path."""
    format: str
    """``json``, ``clf`` or a template with ``$context`` variables."""


@dataclass(frozen=True, slots=True)
class StageSettings:
    """Throttling, caching and logging settings of one stage."""

    default: MethodSetting = MethodSetting()
    """The stage default: ``throttling``, ``defaultRouteSettings`` or ``methodSettings["*/*"]``."""
    methods: tuple[tuple[RouteSelector, MethodSetting, Place], ...] = ()
    cache_enabled: bool = False
    cache_size_bytes: int = int(DEFAULT_CACHE_SIZE_GB * 1024**3)
    access_log_format: str | None = None
    cache_stale_seconds: int = 0
    """Beyond AWS: how long after its TTL an entry is still answered while one request refreshes it (0: off)."""
    cache_shared_tier: bool = False
    """Beyond AWS: a shared tier of the cache in the gateway's Redis, between each worker's cache and the backend."""

    def for_route(self, route: Route) -> MethodSetting:
        """The effective setting of one route: its specific entries over the stage default, field by field."""
        merged = self.default
        for selector, setting, _ in self.methods:
            if selector.matches(route):
                merged = _merge(merged, setting)
        return merged


def _merge(base: MethodSetting, over: MethodSetting) -> MethodSetting:
    return MethodSetting(
        over.throttle if over.throttle is not None else base.throttle,
        over.caching_enabled if over.caching_enabled is not None else base.caching_enabled,
        over.cache_ttl if over.cache_ttl is not None else base.cache_ttl,
        over.require_authorization_for_cache_control
        if over.require_authorization_for_cache_control is not None
        else base.require_authorization_for_cache_control,
        over.unauthorized_cache_control_strategy
        if over.unauthorized_cache_control_strategy is not None
        else base.unauthorized_cache_control_strategy,
    )


@dataclass(frozen=True, slots=True)
class Quota:
    limit: int
    period: QuotaPeriod
    offset: int = 0


@dataclass(frozen=True, slots=True)
class PlanStage:
    """An API stage a usage plan covers, with its per-method throttles (``"/pets/GET"``)."""

    api: str
    stage: str
    method_throttles: tuple[tuple[RouteSelector, Throttle, Place], ...] = ()


@dataclass(frozen=True, slots=True)
class UsagePlan:
    name: str
    throttle: Throttle | None
    quota: Quota | None
    stages: tuple[PlanStage, ...]
    place: Place


@dataclass(frozen=True, slots=True)
class ApiKeyConfig:
    """An API key of the config file. Only the SHA-256 of the value is kept (a ``value`` is hashed on read)."""

    name: str
    value_hash: str = field(repr=False)
    enabled: bool
    plans: tuple[str, ...]
    place: Place


@dataclass(frozen=True, slots=True)
class RedisSettings:
    url: str = field(repr=False)
    """May carry a password: never logged (``repr`` hides it)."""
    failure_policy: FailurePolicy = "open"
    key_prefix: str = "fastgw:"


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    port: int
    host: str = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """Gateway-wide settings (the top of the config file, or the command line)."""

    throttle: Throttle = Throttle(GATEWAY_DEFAULT_RATE, GATEWAY_DEFAULT_BURST)
    usage_plans: Mapping[str, UsagePlan] = field(default_factory=dict)
    api_keys: tuple[ApiKeyConfig, ...] = ()
    state_path: str | None = None
    """The SQLite file for quota usage and CLI-created keys; ``None``: ``fastgw-state.db`` in the current
    directory, created only when something needs it (a usage plan with a quota, or keys)."""
    redis: RedisSettings | None = None
    metrics: MetricsSettings | None = None
    access_logs: AccessLogSettings | None = None
    otlp_endpoint: str | None = None
    respect_backend_cache_control: bool = False
    """Do not cache a backend response with ``Cache-Control: no-store`` or ``private`` (AWS caches it)."""


# ---------------------------------------------------------------------------------------------------------
# Reading


STAGE_SETTING_KEYS = (
    "throttling",
    "defaultRouteSettings",
    "routeSettings",
    "methodSettings",
    "cacheClusterEnabled",
    "cacheClusterSize",
    "cacheStaleSeconds",
    "cacheSharedTier",
    "accessLogSettings",
)
NODE_SETTING_KEYS = ("throttling", "usagePlans", "apiKeys", "state", "redis", "metrics", "accessLogs", "tracing")
_METHOD_SETTING_KEYS = (
    "throttlingRateLimit",
    "throttlingBurstLimit",
    "cachingEnabled",
    "cacheTtlInSeconds",
    "requireAuthorizationForCacheControl",
    "unauthorizedCacheControlHeaderStrategy",
)
_STRATEGIES: Mapping[str, CacheControlStrategy] = {
    "FAIL_WITH_403": "FAIL_WITH_403",
    "SUCCEED_WITH_RESPONSE_HEADER": "SUCCEED_WITH_RESPONSE_HEADER",
    "SUCCEED_WITHOUT_RESPONSE_HEADER": "SUCCEED_WITHOUT_RESPONSE_HEADER",
}
_PERIODS: Mapping[str, QuotaPeriod] = {"DAY": "DAY", "WEEK": "WEEK", "MONTH": "MONTH"}
_POLICIES: Mapping[str, FailurePolicy] = {"open": "open", "closed": "closed"}


def _number(checker: _Checker, value: Any, place: Place, what: str) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        checker.error(place, f"{what} must be a number of at least 0, got {describe(value)} {value!r}")
        return None
    return float(value)


def read_throttle(checker: _Checker, value: Any, place: Place, rate_key: str, burst_key: str) -> Throttle | None:
    """``{rateLimit, burstLimit}`` (or the ``throttling*`` names): rate a float, burst an integer; a burst
    without a rate gets AWS's 10,000."""
    fields = checker.obj(value, place, "a throttle", (rate_key, burst_key))
    if fields is None:
        return None
    return _throttle_fields(checker, fields, place, rate_key, burst_key)


def _throttle_fields(
    checker: _Checker, fields: Mapping[str, Any], place: Place, rate_key: str, burst_key: str
) -> Throttle | None:
    if rate_key not in fields and burst_key not in fields:
        return None
    rate = AWS_FILLED_RATE
    if rate_key in fields:
        rate = _number(checker, fields[rate_key], place.child(rate_key), rate_key) or 0.0
    burst = None
    if burst_key in fields:
        burst = checker.integer(fields[burst_key], place.child(burst_key), burst_key, 0, 2**31 - 1)
    elif rate_key in fields:
        # AWS's console requires both; with a rate alone the burst is the rate (at least 1), as AWS's CLI does.
        burst = max(1, int(rate))
    if burst is None:
        return None
    return Throttle(rate, burst)


def read_method_setting(checker: _Checker, value: Any, place: Place) -> MethodSetting:
    fields = checker.obj(value, place, "a method setting", _METHOD_SETTING_KEYS)
    if fields is None:
        return MethodSetting()
    throttle = _throttle_fields(checker, fields, place, "throttlingRateLimit", "throttlingBurstLimit")
    caching = None
    if "cachingEnabled" in fields:
        caching = checker.boolean(fields["cachingEnabled"], place.child("cachingEnabled"), "cachingEnabled")
    ttl = None
    if "cacheTtlInSeconds" in fields:
        where = place.child("cacheTtlInSeconds")
        ttl = checker.integer(fields["cacheTtlInSeconds"], where, "cacheTtlInSeconds", 0, MAX_CACHE_TTL)
    require = None
    if "requireAuthorizationForCacheControl" in fields:
        key = "requireAuthorizationForCacheControl"
        require = checker.boolean(fields[key], place.child(key), key)
    strategy = None
    if "unauthorizedCacheControlHeaderStrategy" in fields:
        key = "unauthorizedCacheControlHeaderStrategy"
        strategy = checker.choice(fields[key], place.child(key), key, _STRATEGIES)
    return MethodSetting(throttle, caching, ttl, require, strategy)


def parse_method_selector(text: str) -> RouteSelector | None:
    """``*/*``, ``pets/GET``, ``/pets/{id}/GET``, ``pets~1{id}/GET`` (AWS's escaped form) -> a selector."""
    if text == "*/*":
        return RouteSelector(None, "*", text)
    resource, sep, method = text.rpartition("/")
    method = method.upper()
    if not sep or method not in METHODS:
        return None
    resource = resource.replace("~1", "/")
    if resource == "*":
        return RouteSelector(None, method, text)
    return RouteSelector("/" + resource.lstrip("/"), method, text)


def parse_route_key_selector(text: str) -> RouteSelector | None:
    """An HTTP API route key: ``GET /pets``, ``ANY /{proxy+}``, ``$default``."""
    if text == "$default":
        return RouteSelector("$default", "ANY", text)
    method, sep, path = text.partition(" ")
    if not sep or method.upper() not in METHODS or not path.startswith("/"):
        return None
    return RouteSelector(path, method.upper(), text)


def read_stage_settings(checker: _Checker, stage: Mapping[str, Any], place: Place) -> StageSettings:
    default = MethodSetting()
    methods: list[tuple[RouteSelector, MethodSetting, Place]] = []
    if "throttling" in stage:
        where = place.child("throttling")
        default = MethodSetting(throttle=read_throttle(checker, stage["throttling"], where, "rateLimit", "burstLimit"))
    if "defaultRouteSettings" in stage:
        where = place.child("defaultRouteSettings")
        default = _merge(default, read_method_setting(checker, stage["defaultRouteSettings"], where))
    for key, parse in (("routeSettings", parse_route_key_selector), ("methodSettings", parse_method_selector)):
        if key in stage:
            for selector, setting, where in _read_selected_settings(checker, stage[key], place.child(key), parse):
                if selector.resource_path is None and selector.method == "*":
                    default = _merge(default, setting)
                else:
                    methods.append((selector, setting, where))
    enabled, size_bytes = _read_cache_cluster(checker, stage, place)
    log_format = None
    if "accessLogSettings" in stage:
        where = place.child("accessLogSettings")
        fields = checker.obj(stage["accessLogSettings"], where, "accessLogSettings", ("format",), required=("format",))
        if fields is not None and "format" in fields:
            log_format = checker.string(fields["format"], where.child("format"), "format")
    stale_seconds = 0
    if "cacheStaleSeconds" in stage:
        where = place.child("cacheStaleSeconds")
        found = checker.integer(stage["cacheStaleSeconds"], where, "cacheStaleSeconds", 0, MAX_CACHE_STALE_SECONDS)
        stale_seconds = found or 0
    shared_tier = False
    if "cacheSharedTier" in stage:
        shared_tier = bool(checker.boolean(stage["cacheSharedTier"], place.child("cacheSharedTier"), "cacheSharedTier"))
    return StageSettings(default, tuple(methods), enabled, size_bytes, log_format, stale_seconds, shared_tier)


def _read_selected_settings(
    checker: _Checker, raw: Any, place: Place, parse: Callable[[str], RouteSelector | None]
) -> list[tuple[RouteSelector, MethodSetting, Place]]:
    if not isinstance(raw, dict):
        checker.error(place, f"settings must be a mapping of route selector to setting, got {describe(raw)}")
        return []
    found = []
    for text, value in raw.items():
        where = place.child(str(text))
        selector = parse(str(text))
        if selector is None:
            expected = "'METHOD /path' or '$default'" if parse is parse_route_key_selector else "'resourcePath/METHOD'"
            checker.error(where, f"'{text}' is not a route selector ({expected})")
            continue
        found.append((selector, read_method_setting(checker, value, where), where))
    return found


def _read_cache_cluster(checker: _Checker, stage: Mapping[str, Any], place: Place) -> tuple[bool, int]:
    enabled = False
    if "cacheClusterEnabled" in stage:
        key = "cacheClusterEnabled"
        enabled = bool(checker.boolean(stage[key], place.child(key), key))
    size_bytes = int(DEFAULT_CACHE_SIZE_GB * 1024**3)
    if "cacheClusterSize" in stage:
        where = place.child("cacheClusterSize")
        size = _number(checker, _as_number(stage["cacheClusterSize"]), where, "cacheClusterSize")
        if size is not None and size > 0:
            size_bytes = int(size * 1024**3)
        elif size is not None:
            checker.error(where, "cacheClusterSize must be more than 0 GB")
    return enabled, size_bytes


def _as_number(value: Any) -> Any:
    """AWS writes cache sizes as strings (``"0.5"``)."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def read_node_settings(checker: _Checker, top: Mapping[str, Any], root: Place, base_dir: str) -> NodeSettings:
    throttle = NodeSettings().throttle
    if "throttling" in top:
        found = read_throttle(checker, top["throttling"], root.child("throttling"), "rateLimit", "burstLimit")
        throttle = found or throttle
    plans: dict[str, UsagePlan] = {}
    if "usagePlans" in top:
        plans = _read_plans(checker, top["usagePlans"], root.child("usagePlans"))
    keys: list[ApiKeyConfig] = []
    if "apiKeys" in top:
        keys = _read_keys(checker, top["apiKeys"], root.child("apiKeys"), plans)
    state_path = None
    if "state" in top:
        fields = checker.obj(top["state"], root.child("state"), "state", ("path",), required=("path",))
        if fields and "path" in fields:
            text = checker.string(fields["path"], root.child("state", "path"), "path")
            state_path = _relative_to(base_dir, text) if text else None
    redis = _read_redis(checker, top["redis"], root.child("redis"), base_dir) if "redis" in top else None
    metrics = _read_metrics(checker, top["metrics"], root.child("metrics")) if "metrics" in top else None
    access_logs = None
    if "accessLogs" in top:
        access_logs = _read_access_logs(checker, top["accessLogs"], root.child("accessLogs"), base_dir)
    otlp = None
    if "tracing" in top:
        where = root.child("tracing")
        fields = checker.obj(top["tracing"], where, "tracing", ("otlpEndpoint",))
        if fields and "otlpEndpoint" in fields:
            otlp = checker.string(fields["otlpEndpoint"], where.child("otlpEndpoint"), "otlpEndpoint")
    return NodeSettings(throttle, plans, tuple(keys), state_path, redis, metrics, access_logs, otlp)


def _relative_to(base_dir: str, path: str) -> str:
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(path)))


def _read_metrics(checker: _Checker, value: Any, place: Place) -> MetricsSettings | None:
    fields = checker.obj(value, place, "metrics", ("port", "host"), required=("port",))
    if not fields or "port" not in fields:
        return None
    port = checker.integer(fields["port"], place.child("port"), "port", 0, 65535)
    host = checker.string(fields.get("host", "127.0.0.1"), place.child("host"), "host") or "127.0.0.1"
    return MetricsSettings(port, host) if port is not None else None


def _read_access_logs(checker: _Checker, value: Any, place: Place, base_dir: str) -> AccessLogSettings | None:
    fields = checker.obj(value, place, "accessLogs", ("destination", "format"))
    if fields is None:
        return None
    destination = checker.string(fields.get("destination", "stdout"), place.child("destination"), "destination")
    log_format = checker.string(fields.get("format", "json"), place.child("format"), "format")
    if not destination or not log_format:
        return None
    if destination != "stdout":
        destination = _relative_to(base_dir, destination)
    return AccessLogSettings(destination, log_format)


def _read_plans(checker: _Checker, raw: Any, place: Place) -> dict[str, UsagePlan]:
    plans: dict[str, UsagePlan] = {}
    if not isinstance(raw, dict):
        checker.error(place, f"usagePlans must be a mapping of name to plan, got {describe(raw)}")
        return plans
    for name, value in raw.items():
        plan = _read_plan(checker, str(name), value, place.child(str(name)))
        if plan is not None:
            plans[plan.name] = plan
    return plans


def _read_plan(checker: _Checker, name: str, value: Any, place: Place) -> UsagePlan | None:
    keys = ("throttle", "quota", "apiStages")
    fields = checker.obj(value, place, f"usage plan '{name}'", keys, required=("apiStages",))
    if fields is None:
        return None
    throttle = None
    if "throttle" in fields:
        throttle = read_throttle(checker, fields["throttle"], place.child("throttle"), "rateLimit", "burstLimit")
    quota = _read_quota(checker, fields["quota"], place.child("quota")) if "quota" in fields else None
    stages: list[PlanStage] = []
    raw_stages = fields.get("apiStages", [])
    if not isinstance(raw_stages, list) or not raw_stages:
        checker.error(place.child("apiStages"), "apiStages must be a list of at least one {api, stage}")
        raw_stages = []
    for index, item in enumerate(raw_stages):
        stage = _read_plan_stage(checker, item, place.child("apiStages", index))
        if stage is not None:
            stages.append(stage)
    return UsagePlan(name, throttle, quota, tuple(stages), place)


def _read_quota(checker: _Checker, value: Any, place: Place) -> Quota | None:
    raw = checker.obj(value, place, "quota", ("limit", "period", "offset"), required=("limit", "period"))
    if raw is None or "limit" not in raw or "period" not in raw:
        return None
    limit = checker.integer(raw["limit"], place.child("limit"), "limit", 0)
    period = checker.choice(raw["period"], place.child("period"), "period", _PERIODS)
    offset = checker.integer(raw.get("offset", 0), place.child("offset"), "offset", 0) or 0
    if limit is None or period is None:
        return None
    if offset > limit:
        checker.error(place.child("offset"), f"offset {offset} is more than the limit {limit}")
    return Quota(limit, period, offset)


def _read_plan_stage(checker: _Checker, item: Any, place: Place) -> PlanStage | None:
    entry = checker.obj(item, place, "an API stage", ("api", "stage", "throttle"), required=("api", "stage"))
    if entry is None or "api" not in entry or "stage" not in entry:
        return None
    api = checker.string(entry["api"], place.child("api"), "api")
    stage = checker.string(entry["stage"], place.child("stage"), "stage")
    throttles: list[tuple[RouteSelector, Throttle, Place]] = []
    raw_throttles = entry.get("throttle", {})
    if not isinstance(raw_throttles, dict):
        checker.error(place.child("throttle"), "throttle must be a mapping of '/path/METHOD' to a throttle")
        raw_throttles = {}
    if len(raw_throttles) > MAX_USAGE_PLAN_METHOD_THROTTLES:
        most = MAX_USAGE_PLAN_METHOD_THROTTLES
        checker.error(place.child("throttle"), f"at most {most} method throttles, got {len(raw_throttles)}")
    for text, raw_throttle in raw_throttles.items():
        at = place.child("throttle", str(text))
        selector = parse_method_selector(str(text))
        if selector is None or selector.resource_path is None:
            checker.error(at, f"'{text}' is not a method ('/resourcePath/METHOD')")
            continue
        method_throttle = read_throttle(checker, raw_throttle, at, "rateLimit", "burstLimit")
        if method_throttle is not None:
            throttles.append((selector, method_throttle, at))
    if api is None or stage is None:
        return None
    return PlanStage(api, stage, tuple(throttles))


def _read_keys(checker: _Checker, value: Any, place: Place, plans: Mapping[str, UsagePlan]) -> list[ApiKeyConfig]:
    if not isinstance(value, dict):
        checker.error(place, f"apiKeys must be a mapping of key name to key, got {describe(value)}")
        return []
    keys: list[ApiKeyConfig] = []
    seen_hashes: dict[str, str] = {}
    for name, raw in value.items():
        where = place.child(str(name))
        fields = checker.obj(raw, where, f"API key '{name}'", ("value", "valueSha256", "enabled", "usagePlans"))
        if fields is None:
            continue
        digest = _read_key_hash(checker, str(name), fields, where)
        enabled = True
        if "enabled" in fields:
            enabled = checker.boolean(fields["enabled"], where.child("enabled"), "enabled") is not False
        plan_names = _read_key_plans(checker, fields.get("usagePlans", []), str(name), where, plans)
        if digest is None:
            continue
        if digest in seen_hashes:
            checker.error(where, f"API key '{name}' has the same value as '{seen_hashes[digest]}'")
            continue
        seen_hashes[digest] = str(name)
        keys.append(ApiKeyConfig(str(name), digest, enabled, tuple(plan_names), where))
    return keys


def _read_key_hash(checker: _Checker, name: str, fields: Mapping[str, Any], place: Place) -> str | None:
    if ("value" in fields) == ("valueSha256" in fields):
        checker.error(place, f"API key '{name}' needs exactly one of 'value' and 'valueSha256'")
        return None
    if "value" in fields:
        text = checker.string(fields["value"], place.child("value"), "value")
        if text is not None and not API_KEY_VALUE_RE.fullmatch(text):
            checker.error(place.child("value"), "an API key value is 20-128 letters and digits (AWS's rule)")
            return None
        return hashlib.sha256(text.encode()).hexdigest() if text is not None else None
    text = checker.string(fields["valueSha256"], place.child("valueSha256"), "valueSha256")
    if text is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        checker.error(place.child("valueSha256"), "valueSha256 must be 64 hex digits (the SHA-256 of the value)")
        return None
    return text.lower() if text is not None else None


def _read_key_plans(checker: _Checker, raw: Any, name: str, place: Place, plans: Mapping[str, UsagePlan]) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        checker.error(place.child("usagePlans"), "usagePlans must be a list of usage plan names")
        return []
    names: list[str] = []
    for index, plan_name in enumerate(raw):
        if plan_name not in plans:
            checker.error(place.child("usagePlans", index), f"no usage plan named '{plan_name}'")
        else:
            names.append(plan_name)
    stages_seen: dict[tuple[str, str], str] = {}
    for plan_name in names:
        for stage in plans[plan_name].stages:
            other = stages_seen.setdefault((stage.api, stage.stage), plan_name)
            if other != plan_name:
                checker.error(
                    place.child("usagePlans"),
                    f"API key '{name}' is in plans '{other}' and '{plan_name}' for {stage.api}/{stage.stage}:"
                    " a key is in at most one plan per stage (AWS's rule)",
                )
    return names


def _read_redis(checker: _Checker, value: Any, place: Place, base_dir: str) -> RedisSettings | None:
    keys = ("url", "urlFile", "passwordFile", "failurePolicy", "keyPrefix")
    fields = checker.obj(value, place, "redis", keys)
    if fields is None:
        return None
    if ("url" in fields) == ("urlFile" in fields):
        checker.error(place, "redis needs exactly one of 'url' and 'urlFile'")
        return None
    key = "url" if "url" in fields else "urlFile"
    url = _redis_secret(checker, fields, key, place, base_dir, "Redis URL")
    if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
        named = "url" if key == "url" else "the URL in urlFile"
        checker.error(place.child(key), f"{named} must start with redis://, rediss:// or unix://")
        return None
    if url is not None and "passwordFile" in fields:
        if has_password(url):
            checker.error(place.child("passwordFile"), f"passwordFile: the Redis URL ({key}) has a password already")
            return None
        password = _redis_secret(checker, fields, "passwordFile", place, base_dir, "Redis password")
        url = with_password(url, password) if password is not None else None
    policy: FailurePolicy = "open"
    if "failurePolicy" in fields:
        where = place.child("failurePolicy")
        policy = checker.choice(fields["failurePolicy"], where, "failurePolicy", _POLICIES) or "open"
    prefix = "fastgw:"
    if "keyPrefix" in fields:
        prefix = checker.string(fields["keyPrefix"], place.child("keyPrefix"), "keyPrefix") or prefix
    return RedisSettings(url, policy, prefix) if url else None


def _redis_secret(
    checker: _Checker, fields: Mapping[str, Any], key: str, place: Place, base_dir: str, what: str
) -> str | None:
    """``url`` as written, or the content of the file ``urlFile``/``passwordFile`` names (relative to the gateway
    file)."""
    text = checker.string(fields[key], place.child(key), key)
    if text is None or not key.endswith("File"):
        return text
    try:
        return read_secret_file(_relative_to(base_dir, text), place.child(key), what)
    except DefinitionError as error:
        for problem in error.problems:
            checker.error(problem.place, problem.message)
        return None


def check_route_selectors(settings: StageSettings, routes: tuple[Route, ...], stage_place: Place) -> list[Problem]:
    """Every method setting must name a route of the API: a typo would otherwise leave a route unthrottled."""
    problems = []
    for selector, _, place in settings.methods:
        if not any(selector.matches(route) for route in routes):
            problems.append(Problem(place, f"'{selector.text}' matches no route of the API"))
    return problems


def check_plan_selectors(plan: UsagePlan, api: str, stage: str, routes: tuple[Route, ...]) -> list[Problem]:
    problems = []
    for plan_stage in plan.stages:
        if plan_stage.api != api or plan_stage.stage != stage:
            continue
        for selector, _, place in plan_stage.method_throttles:
            if not any(selector.matches(route) for route in routes):
                problems.append(Problem(place, f"'{selector.text}' matches no route of API '{api}'"))
    return problems
