"""Throttling across nodes: AWS token buckets kept in Redis, spent through local leases.

The bucket (:data:`TAKE_SCRIPT`, run atomically by Redis) is AWS's: it holds at most ``burst`` tokens, refills
at ``rate`` tokens per second, starts full, and a request takes one token. Time is Redis's own ``TIME``, so
the nodes' clocks do not matter (tests may pass the time instead). A bucket idle for ``max(60 s, 2 * burst /
rate)`` expires: by then it would be full again, and a missing bucket starts full, so nothing changes.

One script call per request would put a Redis round trip on every request. A node instead takes a *lease*
of several tokens at once (``take(..., n)`` grants up to n) and spends them locally
(:class:`LeasedBuckets`), one dictionary decrement per request and level. Leases never create tokens, they
only move them from Redis to a node, so the nodes together never admit more than the bucket allows, with
one exception that the lease lifetime bounds: tokens leased at t and spent at t + d were counted at t, when
the bucket may have been emptier. Unspent leased tokens therefore expire after ``lease_ttl`` (1 s): a node
that falls quiet does not strand tokens that other nodes need, and a lease cannot be hoarded and spent on
top of a bucket that has since refilled. The errors are at most one lease per node and level: fewer
requests admitted (tokens that expire unspent) or a burst larger by that much.

Lease size (:func:`lease_size`) is ``max(1, min(burst // 10, ceil(rate / 50)))``: at most a tenth of the
burst, and at most what the bucket refills in 20 ms. With N nodes the stranded tokens per second are at most
N * rate / 50, so a limit holds within 10% for up to 5 nodes per bucket; at 10 000 requests/s a node calls
Redis once per 200 requests. Small limits get leases of 1: exact, at one round trip per request.

A request is admitted only when every level (usage plan, stage method, account...) has a token:
:meth:`LeasedBuckets.admit` first makes sure each level's lease has one, then spends one from each, with no
``await`` in between. When a later level refuses, the earlier levels' tokens are not spent: they stay in the
node's leases for the next request (nothing is refunded to Redis, which would cost a round trip and the lease
expires soon anyway). When Redis refuses a level, the node remembers it until Redis's bucket can hold the
next whole token (the script says when), so a flood of throttled requests does not become a flood of script
calls.

:class:`RedisHealth` is a circuit breaker: after a failed call Redis is considered down for a back-off (0.5 s,
doubling up to 5 s while failures continue), during which refills fail at once with
:class:`~fastgw.usage.store.StoreUnavailableError` instead of each request waiting for a timeout. The caller
decides what a request gets then (local buckets, admit, refuse); ``fallbacks`` counts those requests, and
:class:`OutageLog` says so in the log at most once per :data:`LOG_INTERVAL` per worker, not once per request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import redis.asyncio

from fastgw.usage.store import StoreUnavailableError, redis_errors

#: Keys: the bucket hash {tokens, ts (microseconds)}. Args: rate (tokens/s), burst, n, idle expiry (ms) and,
#: for tests only, the time in microseconds. Returns {granted, microseconds until one whole token}.
TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local now
if ARGV[5] then
  now = tonumber(ARGV[5])
else
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) / 1000000 * rate)
  ts = now
end
local granted = math.max(0, math.min(n, math.floor(tokens)))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%d', ts))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local wait = -1
if tokens < 1 and rate > 0 then
  wait = math.ceil((1 - tokens) / rate * 1000000)
end
return {granted, wait}
"""

MIN_IDLE_SECONDS = 60.0
#: Seconds between two log lines of one :class:`OutageLog`.
LOG_INTERVAL = 10.0


class Grant(NamedTuple):
    """What a bucket gave: ``tokens`` (0 to n) and, when it is left with less than one token, the seconds until
    it holds one again (``retry_after``; None when it has a token left or never refills)."""

    tokens: int
    retry_after: float | None


def lease_size(rate: float, burst: int) -> int:
    """How many tokens a node takes from Redis at once: a tenth of the burst, at most 20 ms of refill, >= 1."""
    return max(1, min(burst // 10, math.ceil(rate / 50)))


def idle_expiry(rate: float, burst: int) -> float:
    """Seconds after its last use a bucket is deleted: it would be full again by then."""
    if rate <= 0:
        return MIN_IDLE_SECONDS
    return max(MIN_IDLE_SECONDS, 2 * burst / rate)


class RedisBuckets:
    """Token buckets in Redis. Shares the caller's client (``RedisUsageStore.client``) and does not close it."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str = "fastgw:") -> None:
        self.client = client
        self.prefix = prefix
        self._take = client.register_script(TAKE_SCRIPT)

    async def take(self, bucket: str, rate: float, burst: int, n: int, *, now: float | None = None) -> Grant:
        """Take up to ``n`` tokens from ``bucket`` (created full). ``now`` (epoch seconds) replaces Redis's
        clock, for tests. Raises StoreUnavailableError."""
        args: list[float | int] = [rate, burst, n, int(idle_expiry(rate, burst) * 1000)]
        if now is not None:
            args.append(int(now * 1_000_000))
        with redis_errors("take"):
            granted, wait = await self._take(keys=[f"{self.prefix}bucket:{bucket}"], args=args)
        return Grant(int(granted), None if int(wait) < 0 else int(wait) / 1_000_000)


class RedisHealth:
    """A circuit breaker for Redis: down for a back-off after a failure, so requests do not each time out."""

    def __init__(
        self, *, first_backoff: float = 0.5, max_backoff: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.failures = 0
        #: Requests that were decided without Redis (for metrics).
        self.fallbacks = 0
        self._clock = clock
        self._backoff = 0.0
        self._down_until = 0.0

    @property
    def is_up(self) -> bool:
        """False during a back-off; after it, the next call is the probe that decides."""
        return self._clock() >= self._down_until

    def record_failure(self) -> None:
        """A call failed: down for the first back-off, or twice the previous one if the probe after a back-off
        failed. Failures while already down (calls that were in flight together) do not lengthen it."""
        self.failures += 1
        now = self._clock()
        if now < self._down_until:
            return
        self._backoff = self.first_backoff if self._backoff == 0 else min(self.max_backoff, 2 * self._backoff)
        self._down_until = now + self._backoff

    def record_success(self) -> None:
        self._backoff = 0.0
        self._down_until = 0.0

    def record_fallback(self) -> None:
        self.fallbacks += 1


class OutageLog:
    """A warning about Redis (or the state store) being unavailable, logged at most once per ``interval`` by this
    worker: while Redis is down every request goes without it, and a line per request would flood the log (and
    slow the worker). The lines left out meanwhile are counted in the next one; ``fastgw_redis_fallbacks_total``
    counts every request. One instance per kind of failure (throttling, quotas, the shared cache tier)."""

    def __init__(
        self, logger: logging.Logger, *, interval: float = LOG_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self.interval = interval
        self._clock = clock
        self._logged_at: float | None = None
        self._left_out = 0

    def warning(self, message: str, *args: object) -> None:
        now = self._clock()
        if self._logged_at is not None and now - self._logged_at < self.interval:
            self._left_out += 1
            return
        if self._left_out:
            message += " (%d more since the last such line)"
            args = (*args, self._left_out)
        self._logged_at, self._left_out = now, 0
        self.logger.warning(message, *args)


@dataclass(slots=True)
class _Lease:
    """Tokens of one bucket that this node took from Redis and may spend until ``expires`` (its clock)."""

    tokens: int
    expires: float
    # Redis refused: until this time, refuse without asking.
    refused_until: float = 0.0


Check = tuple[str, float, int]
"""One throttling level of a request: (bucket name, rate per second, burst)."""


class LeasedBuckets:
    """One worker's view of the Redis buckets: local leases, refilled from Redis when empty."""

    def __init__(
        self,
        buckets: RedisBuckets,
        health: RedisHealth | None = None,
        *,
        lease_ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.buckets = buckets
        self.health = health or RedisHealth(clock=clock)
        self.lease_ttl = lease_ttl
        self._clock = clock
        self._leases: dict[str, _Lease] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def admit(self, checks: Sequence[Check]) -> int | None:
        """Take one token at every level: None when admitted, else the index of the first level that throttled
        (its bucket is empty). Raises StoreUnavailableError when a lease must be refilled and Redis is down."""
        refills = 0
        while True:
            now = self._clock()
            blocked = self._first_blocked(checks, now)
            if blocked is None:
                for bucket, _, _ in checks:
                    self._leases[bucket].tokens -= 1
                return None
            index, refused = blocked
            # Refilling one level awaits, and meanwhile other requests may spend the other levels' leases: look
            # again after each refill, but give up (throttled) rather than loop under extreme contention.
            if refused or refills > 2 * len(checks):
                return index
            bucket, rate, burst = checks[index]
            await self._refill(bucket, rate, burst)
            refills += 1

    def _first_blocked(self, checks: Sequence[Check], now: float) -> tuple[int, bool] | None:
        """The first level without a token to spend, and whether Redis refused it recently (else: refill it)."""
        for index, (bucket, _, _) in enumerate(checks):
            lease = self._leases.get(bucket)
            if lease is None:
                return index, False
            if lease.tokens > 0 and now < lease.expires:
                continue
            return index, now < lease.refused_until
        return None

    async def _refill(self, bucket: str, rate: float, burst: int) -> None:
        async with self._locks.setdefault(bucket, asyncio.Lock()):  # one refill per bucket at a time
            now = self._clock()
            lease = self._leases.get(bucket)
            if lease is not None and (lease.tokens > 0 and now < lease.expires or now < lease.refused_until):
                return  # refilled (or refused) while we waited for the lock
            if not self.health.is_up:
                self.health.record_fallback()
                raise StoreUnavailableError("Redis is marked down (circuit breaker back-off)")
            try:
                grant = await self.buckets.take(bucket, rate, burst, lease_size(rate, burst))
            except StoreUnavailableError:
                self.health.record_failure()
                self.health.record_fallback()
                raise
            self.health.record_success()
            now = self._clock()
            lease = _Lease(grant.tokens, now + self.lease_ttl)
            if grant.tokens == 0:
                lease.refused_until = now + min(self.lease_ttl, grant.retry_after or self.lease_ttl)
            self._leases[bucket] = lease
