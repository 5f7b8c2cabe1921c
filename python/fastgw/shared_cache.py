"""Beyond AWS, optional (``cacheSharedTier``): a shared tier of the stage cache in Redis, behind each worker's own.

A worker's local miss asks Redis before the backend; what a worker fetches from the backend and would cache
locally is written to Redis too, so a response fetched by one gateway is served by every other (and by the other
workers of the same gateway) until its TTL ends. A Redis hit is kept locally for the life it has left in Redis
(``Engine.cache_store(..., ttl_ms=)``), never longer.

- Keys: ``{prefix}cache:{<api>/<stage>}:<generation>:<cache key bytes>`` (the engine's :attr:`CacheKey.id`); the
  braces are a Redis Cluster hash tag, so a stage's keys and its generation ``{prefix}cache:{<api>/<stage>}:gen``
  share one slot. One round trip per lookup: :data:`LOOKUP_SCRIPT` reads the generation, then the entry under it.
  Entries are written with ``SET ... PX <route TTL>`` under the generation the lookup saw, so a response fetched
  before a flush is never visible after it.
- Flush: ``INCR`` of the stage's generation (:func:`flush_shared`); old entries stop matching and expire. Other
  gateways drop the copies their workers keep locally within about :data:`WATCH_INTERVAL`: each worker reads the
  generations of its shared stages that often (one ``MGET``) and flushes a stage whose generation moved.
- Values (:func:`encode`): a format byte, then orjson's ``[status, headers]``, a newline, and the raw body. orjson
  never writes a raw newline, so the first one ends the head; the body (up to 1 MB) is kept as it is, not escaped
  or base64-grown, and orjson is already a dependency.
- Capacity is Redis's: its ``maxmemory`` and eviction policy (``allkeys-lru`` or ``volatile-ttl``) bound the tier.
- Redis down or slow never fails or holds a request: 0.2 s timeouts, no retries, and the throttling's circuit
  breaker (:class:`~fastgw.usage.redis_buckets.RedisHealth`), so a dead Redis costs nothing per request. A failed
  lookup is a miss; every request that went without Redis is counted (``fastgw_redis_fallbacks_total``), and
  failures are logged at most once per 10 s per worker (:class:`~fastgw.usage.redis_buckets.OutageLog`; the
  error's kind, never the URL).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson
import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from fastgw._core import Engine
from fastgw.integrations.base import Response
from fastgw.usage.redis_buckets import OutageLog, RedisHealth

log = logging.getLogger("fastgw.cache")

#: KEYS[1]: the stage's generation. ARGV[1]: the entry keys' prefix (up to the generation), ARGV[2]: the cache
#: key's bytes. Returns {generation}, or {generation, value, milliseconds left}.
LOOKUP_SCRIPT = """
local generation = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. generation .. ':' .. ARGV[2]
local value = redis.call('GET', key)
if not value then
  return {generation}
end
return {generation, value, redis.call('PTTL', key)}
"""
TIMEOUT = 0.2
WATCH_INTERVAL = 1.0
_FORMAT = b"1"
_ERRORS: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError, asyncio.TimeoutError)


@dataclass(frozen=True, slots=True)
class SharedStage:
    """One stage's place in the shared tier (plain data, built by the gateway before the workers fork)."""

    generation_key: bytes
    entry_prefix: bytes
    """Up to the generation: ``{prefix}cache:{api/stage}:``."""
    ttls: tuple[float | None, ...]
    """Each route's TTL in seconds, by route id (``None``: not cached)."""

    @classmethod
    def for_stage(cls, key_prefix: str, api: str, stage: str, ttls: Sequence[float | None]) -> SharedStage:
        base = f"{key_prefix}cache:{{{api}/{stage}}}:".encode()
        return cls(base + b"gen", base, tuple(ttls))


@dataclass(frozen=True, slots=True)
class SharedLookup:
    """What Redis holds for a key: the stage's generation (to write under), and the entry if there is one."""

    generation: bytes
    response: Response | None = None
    ttl_ms: int | None = None


def encode(response: Response) -> bytes:
    return _FORMAT + orjson.dumps([response.status, response.headers]) + b"\n" + response.body


def decode(value: bytes) -> Response | None:
    """``None`` for a value this version cannot read (another format)."""
    if not value.startswith(_FORMAT):
        return None
    head, _, body = value[1:].partition(b"\n")
    status, headers = orjson.loads(head)
    return Response(int(status), [(str(name), str(text)) for name, text in headers], body)


class SharedTier:
    """One worker's connection to the shared tier. Created in the worker (``__rsgi_init__``), connects lazily."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = TIMEOUT,
        health: RedisHealth | None = None,
        on_fallback: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``on_fallback``: called for each request that went without the shared tier (counted in metrics)."""
        self.client = redis.asyncio.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
        )
        self._lookup = self.client.register_script(LOOKUP_SCRIPT)
        self.health = health or RedisHealth(clock=clock)
        self._on_fallback = on_fallback
        self._outage_log = OutageLog(log, clock=clock)
        self._watch: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()
        """Writes in flight, held so that they are not garbage-collected mid-flight."""

    async def lookup(self, stage: SharedStage, key_id: bytes) -> SharedLookup | None:
        """The stage's generation and the entry for the key; ``None`` when Redis is unavailable (a miss, and
        nothing is written back)."""
        if not self.health.is_up:
            self._fell_back(None)
            return None
        try:
            found = await self._lookup(keys=[stage.generation_key], args=[stage.entry_prefix, key_id])
        except _ERRORS as error:
            self.health.record_failure()
            self._fell_back(error)
            return None
        self.health.record_success()
        generation = bytes(found[0])
        if len(found) < 3:
            return SharedLookup(generation)
        ttl_ms = int(found[2])
        return SharedLookup(generation, decode(bytes(found[1])), ttl_ms if ttl_ms > 0 else None)

    def store(self, stage: SharedStage, lookup: SharedLookup, route_id: int, key_id: bytes, response: Response) -> None:
        """Writes a cacheable response in the background (the request does not wait for Redis)."""
        ttl = stage.ttls[route_id] if route_id < len(stage.ttls) else None
        if ttl is None or ttl <= 0:
            return
        key = stage.entry_prefix + lookup.generation + b":" + key_id
        task = asyncio.get_running_loop().create_task(self._write(key, encode(response), int(ttl * 1000)))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, key: bytes, value: bytes, ttl_ms: int) -> None:
        try:
            await self.client.set(key, value, px=ttl_ms)
        except _ERRORS as error:
            self.health.record_failure()
            self._fell_back(error, counted=False)  # the request was answered already; only the log
            return
        self.health.record_success()

    def _fell_back(self, error: BaseException | None, *, counted: bool = True) -> None:
        if counted:
            self.health.record_fallback()
            if self._on_fallback is not None:
                self._on_fallback()
        if error is None:
            return
        # The error's kind only: redis-py's texts may name the server (the URL's password never, but keep to what
        # is certainly safe).
        self._outage_log.warning(
            "shared cache tier (Redis) unavailable: %s; answering from this worker and the backend",
            type(error).__name__,
        )

    def watch(
        self,
        loop: asyncio.AbstractEventLoop,
        stages: Sequence[tuple[SharedStage, Engine]],
        *,
        interval: float = WATCH_INTERVAL,
    ) -> None:
        """Starts following the stages' generations: a flush through another gateway empties this worker too."""
        if stages:
            self._watch = loop.create_task(self._follow(stages, interval))

    async def _follow(self, stages: Sequence[tuple[SharedStage, Engine]], interval: float) -> None:
        seen: list[bytes | None] = [None] * len(stages)
        keys = [stage.generation_key for stage, _ in stages]
        while True:
            if self.health.is_up:
                try:
                    current = await self.client.mget(keys)
                except _ERRORS as error:
                    self.health.record_failure()
                    self._fell_back(error, counted=False)
                else:
                    self.health.record_success()
                    for index, value in enumerate(current):
                        generation = value if isinstance(value, bytes) else b"0"
                        if seen[index] is not None and seen[index] != generation:
                            stages[index][1].flush_cache()
                        seen[index] = generation
            await asyncio.sleep(interval)

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        await self.client.aclose()


def flush_shared(url: str, stages: Sequence[SharedStage], *, timeout: float = 1.0) -> str | None:
    """Invalidates the stages in the shared tier (``INCR`` of each generation); the error's kind when Redis
    could not be reached, else ``None``. Synchronous: the admin endpoint runs in the parent process's thread."""
    if not stages:
        return None
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        pipe = client.pipeline(transaction=False)
        for stage in stages:
            pipe.incr(stage.generation_key)
        pipe.execute()
    except (redis.exceptions.RedisError, OSError) as error:
        return type(error).__name__
    finally:
        client.close()
    return None
