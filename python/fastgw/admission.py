"""API keys, usage plans and throttling on the data plane (reference §6).

Who does what:

- The Rust engine (``Engine.admit``, one call per request) checks the ``x-api-key`` of routes that require
  one against the stage's accepted keys (SHA-256 digests only), then takes a token at each throttle level in
  AWS's order: usage plan per key and method, usage plan per key, the stage's limit for the route, the
  gateway-wide limit. The buckets live in the node's shared memory (:class:`fastgw._core.Throttle`, created
  here in the parent before the workers fork), so a limit holds for the node whatever ``--workers`` is.
- With Redis configured, the engine defers the throttle levels (``Forward.deferred_throttle``) and each
  worker takes tokens from Redis buckets through local leases (:mod:`fastgw.usage.redis_buckets`), so limits
  hold across nodes. Redis down: ``failurePolicy: open`` falls back to the node's own buckets (the same
  limits, per node), ``closed`` answers 429; every such request is counted, and logged at most once per
  10 s per worker (:class:`~fastgw.usage.redis_buckets.OutageLog`).
- Quotas are counted in the state store (SQLite by default, Redis when configured) through a per-worker
  :class:`~fastgw.usage.quota.QuotaLedger` (write-ahead blocks: a restart never admits more than the quota).
- Keys come from the config file and from the store (``fastgw keys create``); workers poll the store every
  :data:`KEY_POLL_SECONDS` and swap the engines' key tables, so a created or disabled key takes effect
  within that time (AWS takes minutes).

Bucket keys and key slots are derived from names (API, stage, key id, plan), never from load order, so
every worker and every node sharing a Redis agree on them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastgw._core import Throttle
from fastgw.config.settings import NodeSettings, RedisSettings, StageSettings, UsagePlan, check_plan_selectors
from fastgw.errors import Problem

if TYPE_CHECKING:
    from fastgw._core import Cached, Engine, Forward
    from fastgw.config.model import ApiDefinition
    from fastgw.routing import StageRuntime
    from fastgw.usage.quota import QuotaLedger, QuotaPlan
    from fastgw.usage.redis_buckets import LeasedBuckets
    from fastgw.usage.store import UsageStore

log = logging.getLogger("fastgw.admission")

KEY_POLL_SECONDS = 5.0
DEFAULT_STATE_FILE = "fastgw-state.db"
#: Buckets the node's table has room for: stage routes plus usage-plan keys (a million keys fit in 32 MiB).
DEFAULT_BUCKET_CAPACITY = 1 << 20


def name_slot(*parts: str) -> int:
    """A 64-bit number for a name, the same in every process and on every node. Among a million names the chance
    of any two sharing a number is about 3 in 10^8 (32 bits gave over a hundred such pairs)."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def stage_id(api: str, stage: str) -> int:
    digest = hashlib.sha256(f"stage\0{api}\0{stage}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An API key as the data plane needs it: from the config file or from the store."""

    id: str
    name: str
    value_hash: str
    enabled: bool
    plans: tuple[str, ...]

    def __repr__(self) -> str:  # never the full hash
        return f"KeyRecord(id={self.id!r}, name={self.name!r}, enabled={self.enabled}, plans={self.plans!r})"


@dataclass(frozen=True, slots=True)
class StageKey:
    """Where a stage sits in the node: the API name and the stage name."""

    api: str
    stage: str


def stage_engines(runtimes: Iterable[StageRuntime]) -> dict[StageKey, Engine]:
    """The engines of the served stages, by stage: where a key change is installed."""
    return {StageKey(runtime.api_name, runtime.stage_name): runtime.engine for runtime in runtimes}


class NodeAdmission:
    """The node's keys, plans and buckets; built once in the parent process, before the workers fork."""

    def __init__(self, node: NodeSettings, *, workers: int = 1, throttle: Throttle | None = None) -> None:
        """``throttle``: the bucket table to keep using (a reload), else a new one."""
        self.node = node
        self.workers = workers
        self.plans: Mapping[str, UsagePlan] = node.usage_plans
        self.plan_by_slot = {name_slot("plan", name): plan for name, plan in self.plans.items()}
        self.redis: RedisSettings | None = node.redis
        self.throttle = throttle if throttle is not None else Throttle(DEFAULT_BUCKET_CAPACITY)
        self.mode = "deferred" if self.redis is not None else "local"
        self.keys: dict[str, KeyRecord] = {
            f"config:{key.name}": KeyRecord(f"config:{key.name}", key.name, key.value_hash, key.enabled, key.plans)
            for key in node.api_keys
        }
        self.key_by_slot = {name_slot("key", key_id): key for key_id, key in self.keys.items()}
        self.store_version = 0
        self.stages: dict[StageKey, ApiDefinition] = {}

    # -- building the engines -------------------------------------------------------------------------

    def engine_options(
        self, api: str, stage: str, definition: ApiDefinition, settings: StageSettings
    ) -> dict[str, Any]:
        """The admission arguments of one stage's :class:`~fastgw._core.Engine`."""
        self.stages[StageKey(api, stage)] = definition
        route_limits = []
        for route in definition.routes:
            throttle = settings.for_route(route).throttle
            route_limits.append((throttle.rate, throttle.burst) if throttle is not None else None)
        key_source_is_header = definition.api_key_source == "HEADER"
        required = [
            route.api_key_required and definition.api_type == "REST" and key_source_is_header
            for route in definition.routes
        ]
        gateway = self.node.throttle
        return {
            "throttle": self.throttle,
            "throttle_mode": self.mode,
            "stage_id": stage_id(api, stage),
            "gateway_limit": (gateway.rate, gateway.burst),
            "route_limits": route_limits,
            "api_key_required": required,
        }

    def plan_problems(self, api: str, stage: str, definition: ApiDefinition) -> list[Problem]:
        problems: list[Problem] = []
        for plan in self.plans.values():
            problems.extend(check_plan_selectors(plan, api, stage, definition.routes))
        return problems

    def key_entries(self, api: str, stage: str) -> list[tuple[bytes, int, int, tuple[float, int] | None, list[Any]]]:
        """The keys one stage accepts, as ``Engine.set_keys`` takes them: enabled keys whose plan covers it."""
        definition = self.stages[StageKey(api, stage)]
        entries = []
        for key_id, key in self.keys.items():
            if not key.enabled:
                continue
            for plan_name in key.plans:
                plan = self.plans.get(plan_name)
                if plan is None:
                    continue
                covered = next((s for s in plan.stages if s.api == api and s.stage == stage), None)
                if covered is None:
                    continue
                methods = [
                    (index, throttle.rate, throttle.burst)
                    for selector, throttle, _ in covered.method_throttles
                    for index, route in enumerate(definition.routes)
                    if selector.matches(route)
                ]
                plan_throttle = (plan.throttle.rate, plan.throttle.burst) if plan.throttle else None
                digest = bytes.fromhex(key.value_hash)
                entries.append((digest, name_slot("key", key_id), name_slot("plan", plan_name), plan_throttle, methods))
                break  # a key is in at most one plan per stage
        return entries

    def install_keys(self, engines: Mapping[StageKey, Engine]) -> None:
        for where, engine in engines.items():
            engine.set_keys(self.key_entries(where.api, where.stage))

    # -- keys from the store --------------------------------------------------------------------------

    def uses_store(self) -> bool:
        """A store is needed for quotas, and read for keys when one exists (or Redis is configured)."""
        if self.redis is not None or any(plan.quota for plan in self.plans.values()):
            return True
        return os.path.exists(self.state_path())

    def state_path(self) -> str:
        return self.node.state_path or DEFAULT_STATE_FILE

    def open_store(self) -> UsageStore:
        if self.redis is not None:
            from fastgw.usage.store import RedisUsageStore

            return RedisUsageStore(self.redis.url, prefix=self.redis.key_prefix)
        from fastgw.usage.store import SqliteUsageStore

        return SqliteUsageStore(self.state_path())

    def apply_store_keys(self, changed: Sequence[Any], *, replace: bool = False) -> bool:
        """Merges keys created or changed in the store (``replace``: ``changed`` is all of them, drop the
        store keys it lacks); True when something changed."""
        updated = False
        if replace:
            kept = {key.id for key in changed}
            for key_id in [k for k in self.keys if not k.startswith("config:") and k not in kept]:
                del self.keys[key_id]
                self.key_by_slot.pop(name_slot("key", key_id), None)
                updated = True
        for key in changed:
            record = KeyRecord(key.id, key.name, key.value_hash, key.enabled, (key.plan,) if key.plan else ())
            if key.plan and key.plan not in self.plans:
                log.warning("API key %s names usage plan %r, which the config does not define", key.id, key.plan)
            if self.keys.get(key.id) != record:
                self.keys[key.id] = record
                self.key_by_slot[name_slot("key", key.id)] = record
                updated = True
        return updated

    def load_store_keys(self) -> None:
        """In the parent, before the workers start: the store's keys, so the first request already sees them."""
        if not self.uses_store():
            return

        async def load() -> tuple[int, list[Any]]:
            store = self.open_store()
            try:
                return await store.keys_changed_since(0)
            finally:
                await store.close()

        try:
            self.store_version, keys = asyncio.run(load())
        except Exception as error:  # a store that is down now may come back: workers keep polling
            log.warning("API keys from the state store are not loaded yet: %s", error)
            return
        self.apply_store_keys(keys)


class WorkerAdmission:
    """One worker's side: quotas, shared (Redis) throttling and the key poll. Created in ``__rsgi_init__``."""

    def __init__(
        self, node: NodeAdmission, engines: Mapping[StageKey, Engine], on_fallback: Callable[[], None] | None = None
    ) -> None:
        """``on_fallback``: called when a request is decided without the shared store (counted in metrics)."""
        self.node = node
        self._on_fallback = on_fallback
        self.engines = engines
        self.store: UsageStore | None = node.open_store() if node.uses_store() else None
        self.ledger: QuotaLedger | None = None
        self.buckets: LeasedBuckets | None = None
        self.fail_closed = node.redis is not None and node.redis.failure_policy == "closed"
        self.quota_plans: dict[int, QuotaPlan] = {}
        if self.store is not None:
            from fastgw.usage.quota import QuotaLedger, QuotaPlan

            self.ledger = QuotaLedger(self.store, expected_workers=node.workers)
            for slot, plan in node.plan_by_slot.items():
                if plan.quota is not None:
                    self.quota_plans[slot] = QuotaPlan(
                        plan.name, plan.quota.limit, plan.quota.period, plan.quota.offset
                    )
        from fastgw.usage.redis_buckets import OutageLog

        self._throttle_outage = OutageLog(log)
        self._quota_outage = OutageLog(log)
        if node.redis is not None:
            import redis.asyncio

            from fastgw.usage.redis_buckets import LeasedBuckets, RedisBuckets

            client = redis.asyncio.Redis.from_url(node.redis.url, socket_timeout=0.2, socket_connect_timeout=0.2)
            self.buckets = LeasedBuckets(RedisBuckets(client, prefix=node.redis.key_prefix))
        self._poll: asyncio.Task[None] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.store is not None:
            self._poll = loop.create_task(self._poll_keys())

    async def close(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
        if self.ledger is not None:
            try:
                await self.ledger.release_unused()
            except Exception as error:
                log.warning("unused quota not given back: %s", error)
        if self.store is not None:
            await self.store.close()

    async def _poll_keys(self) -> None:
        assert self.store is not None
        while True:
            await asyncio.sleep(KEY_POLL_SECONDS)
            try:
                version, changed = await self.store.keys_changed_since(self.node.store_version)
                replaced = version < self.node.store_version  # the store was emptied or replaced
                if replaced:
                    version, changed = await self.store.keys_changed_since(0)
            except Exception as error:
                log.warning("API keys not refreshed from the state store: %s", error)
                continue
            self.node.store_version = version
            if self.node.apply_store_keys(changed, replace=replaced):
                self.node.install_keys(self.engines)

    # -- per request (only for routes with a quota or a deferred throttle) ----------------------------

    async def check(self, engine: Engine, decision: Forward | Cached) -> str | None:
        """The shared throttle and the quota of an admitted request (forwarded or answered from the cache):
        ``None`` to go on, or the gateway response type (``THROTTLED``, ``QUOTA_EXCEEDED``)."""
        levels = decision.deferred_throttle
        if levels is not None and await self._throttled(engine, levels):
            return "THROTTLED"
        plan_slot = decision.plan_slot
        if plan_slot is not None and plan_slot in self.quota_plans and not await self._quota_left(decision):
            return "QUOTA_EXCEEDED"
        return None

    def _fell_back(self) -> None:
        if self._on_fallback is not None:
            self._on_fallback()

    async def _throttled(self, engine: Engine, levels: list[tuple[int, float, int]]) -> bool:
        from fastgw.usage.store import StoreUnavailableError

        assert self.buckets is not None
        checks = [(f"tb:{bucket:016x}", rate, burst) for bucket, rate, burst in levels]
        try:
            return await self.buckets.admit(checks) is not None
        except StoreUnavailableError as error:
            self._fell_back()
            self._throttle_outage.warning(
                "Redis unavailable for throttling (%s): failing %s", error, "closed" if self.fail_closed else "open"
            )
            if self.fail_closed:
                return True
            return engine.throttle_locally(levels) is not None

    async def _quota_left(self, decision: Forward | Cached) -> bool:
        from fastgw.usage.store import StoreUnavailableError

        assert self.ledger is not None and decision.plan_slot is not None and decision.key_slot is not None
        plan = self.quota_plans[decision.plan_slot]
        key = self.node.key_by_slot.get(decision.key_slot)
        if key is None:
            return False
        taken = self.ledger.try_take(key.id, plan.name)
        if taken is not None:
            return taken
        try:
            return await self.ledger.acquire(key.id, plan, datetime.now(UTC))
        except StoreUnavailableError as error:
            self._fell_back()
            self._quota_outage.warning(
                "state store unavailable for quotas (%s): failing %s", error, "closed" if self.fail_closed else "open"
            )
            return not self.fail_closed
