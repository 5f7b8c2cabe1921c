"""Usage-plan quotas on the request path: :class:`QuotaLedger`, one per worker process.

Counting every request in the shared store would put a store round trip (a thread hop for SQLite, a network
round trip for Redis) on every request. Instead each worker *reserves blocks* of requests from the store
before admitting them (write-ahead) and spends them locally, one plain decrement per request
(:meth:`QuotaLedger.try_take`); when its allowance runs out it reserves the next block
(:meth:`QuotaLedger.acquire`). The store's ``reserve`` is atomic and never lets a period's count exceed the
limit, so however many workers and nodes reserve at once, the blocks handed out add up to the quota at most.

Block size adapts to what is left: a block is at most ``max_block`` and at most a ``4 * expected_workers``-th
of the requests left in the period (at least 1), computed by the store from the fresh count
(``reserve(..., n=max_block, share=4 * expected_workers)``). Far from the limit a worker makes one store call
per ``max_block`` requests; near it blocks shrink to 1, so the last requests of a quota go to whichever
workers ask, rather than sitting in one worker's allowance while another refuses clients.

Consequences:

- a crash or restart never admits more than the quota: every admitted request was counted before it was
  admitted, and a new worker starts from the store's count;
- a crash loses at most one block per (key, plan) per worker: requests counted but never served. That is the
  bound on under-serving, ``max_block`` at most and smaller near the end of the quota;
- a reservation whose ``acquire`` is cancelled (the client went away) after the store counted it is lost
  the same way, within the same bound;
- graceful shutdown calls :meth:`QuotaLedger.release_unused`, which gives the unspent allowances back;
- a new period needs no reset: counters are kept per period start, and an allowance from the previous
  period is released back to that period the first time the key is used in the new one;
- once the store refuses (quota exhausted), the worker answers "exhausted" locally and asks again only every
  ``recheck_after`` seconds (another worker's shutdown may have given requests back) or in the next period;
- :class:`~fastgw.usage.store.StoreUnavailableError` propagates: the caller decides whether a request is
  admitted while the store is down (fail open) or refused (fail closed).

The quota ``offset`` applies in the period containing the plan's first use (:mod:`fastgw.usage.periods`);
the ledger asks the store for that moment once per plan and remembers it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

from fastgw.usage.periods import Period, effective_limit, period_bounds
from fastgw.usage.store import UsageStore


@dataclass(frozen=True, slots=True)
class QuotaPlan:
    """A usage plan's quota: at most ``limit`` requests per key per ``period`` (``limit - offset`` in the
    initial period)."""

    name: str
    limit: int
    period: Period
    offset: int = 0


@dataclass(slots=True)
class _Allowance:
    """What one worker holds for one (key, plan): requests reserved in the store and not admitted yet."""

    period_start: datetime
    period_end: float  # epoch seconds
    left: int
    # With left == 0: before this time the store has said "exhausted"; after it, ask the store again.
    recheck_at: float = 0.0


class QuotaLedger:
    """Per-worker quota allowances in front of a shared :class:`~fastgw.usage.store.UsageStore`."""

    def __init__(
        self, store: UsageStore, *, expected_workers: int = 1, max_block: int = 100, recheck_after: float = 5.0
    ) -> None:
        if expected_workers < 1 or max_block < 1:
            raise ValueError("expected_workers and max_block must be at least 1")
        self.store = store
        self.max_block = max_block
        self.share = 4 * expected_workers
        self.recheck_after = recheck_after
        self._allowances: dict[tuple[str, str], _Allowance] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._first_used: dict[str, datetime] = {}

    def try_take(self, key_id: str, plan_name: str, now: datetime | None = None) -> bool | None:
        """Admit one request from the local allowance, without I/O: True taken, False quota exhausted for this
        period, None when the answer needs the store (call :meth:`acquire`). ``now`` defaults to the clock."""
        allowance = self._allowances.get((key_id, plan_name))
        if allowance is None:
            return None
        moment = time.time() if now is None else now.timestamp()
        if moment >= allowance.period_end:
            return None
        if allowance.left > 0:
            allowance.left -= 1
            return True
        return False if moment < allowance.recheck_at else None

    async def acquire(self, key_id: str, plan: QuotaPlan, now: datetime) -> bool:
        """Admit one request (True) or refuse it because the quota is exhausted (False), reserving the next
        block from the store when the local allowance is spent. Raises StoreUnavailableError."""
        taken = self.try_take(key_id, plan.name, now)
        if taken is not None:
            return taken
        pair = (key_id, plan.name)
        lock = self._locks.setdefault(pair, asyncio.Lock())
        async with lock:  # one reservation at a time per (key, plan): others wait and spend its block
            taken = self.try_take(key_id, plan.name, now)
            if taken is not None:
                return taken
            return await self._reserve_and_take(key_id, plan, now)

    async def _reserve_and_take(self, key_id: str, plan: QuotaPlan, now: datetime) -> bool:
        start, end = period_bounds(plan.period, now)
        previous = self._allowances.get((key_id, plan.name))
        if previous is not None and previous.period_start != start and previous.left > 0:
            unused, previous.left = previous.left, 0
            await self.store.release(key_id, plan.name, previous.period_start, unused)
        limit = effective_limit(plan.limit, plan.offset, start, await self._first_period_start(plan, now))
        granted = await self.store.reserve(key_id, plan.name, start, limit, self.max_block, share=self.share)
        allowance = _Allowance(start, end.timestamp(), left=max(0, granted - 1))
        if not granted:
            allowance.recheck_at = now.timestamp() + self.recheck_after
        self._allowances[(key_id, plan.name)] = allowance
        return granted > 0

    async def _first_period_start(self, plan: QuotaPlan, now: datetime) -> datetime:
        first_used = self._first_used.get(plan.name)
        if first_used is None:
            first_used = self._first_used[plan.name] = await self.store.plan_first_used(plan.name, now)
        return period_bounds(plan.period, first_used)[0]

    def unused(self) -> int:
        """Requests reserved by this worker and not admitted yet (what a crash now would lose)."""
        return sum(allowance.left for allowance in self._allowances.values())

    async def release_unused(self) -> None:
        """On graceful shutdown: give every reserved, unadmitted request back to the store."""
        for (key_id, plan_name), allowance in list(self._allowances.items()):
            if allowance.left > 0:
                unused, allowance.left = allowance.left, 0
                await self.store.release(key_id, plan_name, allowance.period_start, unused)
