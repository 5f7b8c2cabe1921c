"""The state behind API keys, usage-plan quotas and cross-node throttling.

- :mod:`.keys`: what an API key is; values are never stored, only their SHA-256.
- :mod:`.periods`: quota periods in UTC and the quota ``offset``.
- :mod:`.store`: :class:`~.store.UsageStore` and its two implementations, SQLite (one machine, the default)
  and Redis (several nodes); both raise :class:`~.store.StoreUnavailableError` when they cannot answer.
- :mod:`.quota`: :class:`~.quota.QuotaLedger`, a worker's quota fast path (blocks reserved ahead).
- :mod:`.redis_buckets`: token buckets in Redis, spent through local leases; the Redis circuit breaker.
- :mod:`.cli`: the ``fastgw keys`` command.
"""
