"""The stage cache on the data plane (reference §7), around the Rust cache that ``Engine.admit`` looks up.

- What is cached, and the key: :func:`engine_cache_options` turns a stage's settings (``cacheClusterEnabled``,
  method settings ``cachingEnabled``/``cacheTtlInSeconds``/...) and each route's integration
  (``cacheNamespace``, ``cacheKeyParameters``) into the engine's per-route caching; the engine answers hits
  and hands misses a key.
- Memory: a stage's ``cacheClusterSize`` is the capacity of the whole node; each of N workers holds 1/N of it
  in its own process (:meth:`NodeCaching.divide_capacity`), so the total never exceeds what the user set.
  Workers do not share entries (a hot key is fetched once per worker) unless the stage has a shared tier.
- A miss (:class:`WorkerCache`) runs the integration once per key however many requests miss at the same time
  (single flight, per worker), then keeps a 2xx response of at most 1 MB for the route's TTL. Optionally
  (``respectBackendCacheControl``, off as on AWS) a backend's ``Cache-Control: no-store`` or ``private`` is
  not cached.
- A flush (``fastgw cache flush`` through the admin endpoint, or :meth:`NodeCaching.flush`) reaches every
  worker through a generation word in shared memory.
- Beyond AWS, optional (``cacheStaleSeconds``, off as on AWS): stale-while-revalidate. For that long after its
  TTL the engine hands an entry back as ``Forward.stale``: the request is answered with it at once, marked
  ``Warning: 110`` (RFC 7234's stale warning), while :meth:`WorkerCache.refresh` fetches a new response in the
  background, once per key at a time. A failed refresh leaves the stale entry to serve until its window ends.
- Beyond AWS, optional (``cacheSharedTier``, with ``redis``): a shared tier in Redis between a worker's misses
  and the backend (:mod:`fastgw.shared_cache`); a flush invalidates it too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from fastgw._core import Cached, CacheGenerations, CacheKey, Engine
from fastgw.config.settings import DEFAULT_CACHE_TTL, StageSettings
from fastgw.errors import Place, Problem
from fastgw.integrations.base import Response

if TYPE_CHECKING:
    from fastgw.config.model import ApiDefinition, Route
    from fastgw.config.settings import RedisSettings
    from fastgw.shared_cache import SharedStage, SharedTier

log = logging.getLogger("fastgw.cache")

MAX_CACHED_BODY = 1_048_576
#: SUCCEED_WITH_RESPONSE_HEADER: the header on a response served from the cache although the client asked
#: for a refresh it may not make. AWS documents "a warning header" without its text (UNVERIFIED wording).
IGNORED_REFRESH_WARNING = ("Warning", '199 - "Cache-Control: max-age=0 ignored: not authorized to refresh the cache"')
#: On an answer from an expired entry (stale-while-revalidate): RFC 7234's warning for a stale response.
STALE_WARNING = ("Warning", '110 - "Response is Stale"')
_SOURCES = ("path", "querystring", "header")


def key_parameters(route: Route, place: Place, problems: list[Problem]) -> list[tuple[str, str]]:
    """``method.request.querystring.type`` -> ``("querystring", "type")``; anything else is a load problem."""
    integration = route.integration
    found = []
    for index, text in enumerate(integration.cache_key_parameters if integration else ()):
        parts = text.split(".", 3)
        if len(parts) == 4 and parts[:2] == ["method", "request"] and parts[2] in _SOURCES and parts[3]:
            found.append((parts[2], parts[3]))
        else:
            where = integration.place.child("cacheKeyParameters", index) if integration else place
            problems.append(Problem(where, f"'{text}' is not a method request parameter: not part of the cache key"))
    return found


def engine_cache_options(definition: ApiDefinition, settings: StageSettings) -> tuple[list[Any] | None, list[Problem]]:
    """The per-route caching the engine takes (``None``: the stage caches nothing), and warnings."""
    problems: list[Problem] = []
    if not settings.cache_enabled:
        return None, problems
    if definition.api_type != "REST":
        problems.append(Problem(Place(definition.source), "HTTP APIs have no stage cache (AWS): caching is off"))
        return None, problems
    routes: list[Any] = []
    for index, route in enumerate(definition.routes):
        setting = settings.for_route(route)
        # AWS: a stage with its cache on caches GET methods unless a method setting turns caching off.
        enabled = setting.caching_enabled if setting.caching_enabled is not None else route.method in ("GET", "ANY")
        ttl = setting.cache_ttl if setting.cache_ttl is not None else DEFAULT_CACHE_TTL
        if not enabled or ttl <= 0:
            routes.append(None)
            continue
        namespace = (route.integration.cache_namespace if route.integration else None) or f"route-{index}"
        # A method setting naming this route's method caches it whatever the method; the stage default only GET.
        all_methods = route.method != "GET" and any(
            selector.matches(route) and s.caching_enabled for selector, s, _ in settings.methods
        )
        require = setting.require_authorization_for_cache_control
        strategy = setting.unauthorized_cache_control_strategy or "SUCCEED_WITH_RESPONSE_HEADER"
        invalidation = strategy if require is not False else "allowed"
        routes.append((float(ttl), namespace, key_parameters(route, route.place, problems), all_methods, invalidation))
    return routes, problems


class NodeCaching:
    """The node's stage caches: flush generations (shared memory) and capacity per worker."""

    def __init__(self, stages: int, redis: RedisSettings | None = None) -> None:
        """``stages``: at most how many stages will be registered (a generation word each). ``redis``: where
        the shared tier lives, for the stages that use it."""
        self.generations = CacheGenerations(stages)
        self.stages: dict[tuple[str, str], tuple[int, Engine, int]] = {}
        """(api, stage) -> (generation index, engine, the stage's capacity in bytes)."""
        self.redis = redis
        self.shared: dict[tuple[str, str], SharedStage] = {}
        """The stages with a shared tier (``cacheSharedTier``)."""
        self.shared_flush_error: str | None = None
        """Why the last flush did not reach the shared tier (the error's kind), or ``None``."""

    def register(self, api: str, stage: str, engine: Engine, capacity: int, shared: SharedStage | None = None) -> None:
        self.stages[(api, stage)] = (len(self.stages), engine, capacity)
        if shared is not None:
            self.shared[(api, stage)] = shared

    def index_for(self, api: str, stage: str) -> int:
        return len(self.stages) if (api, stage) not in self.stages else self.stages[(api, stage)][0]

    def divide_capacity(self, workers: int) -> None:
        """Before the workers fork: each holds its share of each stage's capacity."""
        for _, engine, capacity in self.stages.values():
            engine.set_cache_capacity(max(1, capacity // max(1, workers)))

    def flush(self, api: str | None = None, stage: str | None = None) -> list[tuple[str, str]]:
        """Flushes the matching stages in every worker, and in the shared tier; returns which. When Redis cannot
        be reached the workers are flushed all the same, and :attr:`shared_flush_error` says why not Redis."""
        flushed = []
        for (name, stage_name), (index, _, _) in self.stages.items():
            if (api is None or api == name) and (stage is None or stage == stage_name):
                self.generations.bump(index)
                flushed.append((name, stage_name))
        self.shared_flush_error = None
        shared = [self.shared[found] for found in flushed if found in self.shared]
        if shared and self.redis is not None:
            from fastgw.shared_cache import flush_shared

            self.shared_flush_error = flush_shared(self.redis.url, shared)
            if self.shared_flush_error is not None:
                log.error(
                    "cache flush did not reach the shared tier (Redis: %s): other gateways may serve the old"
                    " entries until their TTL ends",
                    self.shared_flush_error,
                )
        return flushed


class WorkerCache:
    """One worker's misses: single flight per key, and storing what the integration answered."""

    def __init__(self, *, respect_backend_cache_control: bool = False) -> None:
        self.respect_backend_cache_control = respect_backend_cache_control
        self.shared_tier: SharedTier | None = None
        """This worker's connection to the shared tier (set in the worker when a stage uses it)."""
        self._flights: dict[bytes, asyncio.Future[tuple[Response, bool]]] = {}
        """Fetches in flight by key: the response, and whether it came from the shared tier."""
        self._refreshes: set[asyncio.Task[None]] = set()
        """Background refreshes of stale entries, held so that they are not garbage-collected mid-flight."""

    async def fetch(
        self,
        engine: Engine,
        route_id: int,
        key: CacheKey,
        answer: Callable[[], Awaitable[Response]],
        shared: SharedStage | None = None,
        *,
        read_shared: bool = True,
    ) -> tuple[Response, bool]:
        """The response for a local miss, fetched once per key at a time, and whether it came from the shared tier
        (a cache hit for metrics, as CloudWatch counts one: no backend call) rather than the integration.
        ``shared``: the stage's shared tier, asked before the backend (unless ``read_shared`` is false: the client
        asked for a refresh) and written after. A request that waits for another's fetch gets what that one got."""
        leader = self._flights.get(key.id)
        if leader is not None:
            found, from_shared = await asyncio.shield(leader)
            return Response(found.status, list(found.headers), found.body), from_shared
        future = self._begin(key.id)
        return await self._lead(engine, route_id, key, answer, future, shared, read_shared=read_shared)

    def refresh(
        self,
        engine: Engine,
        route_id: int,
        key: CacheKey,
        answer: Callable[[], Awaitable[Response]],
        what: str,
        shared: SharedStage | None = None,
    ) -> None:
        """Stale-while-revalidate: fetches a new response for a stale entry in the background, unless a fetch of
        the key is in flight already (a miss's, or another refresh). ``what`` names the route in the log. With a
        shared tier, a fresher entry there (another gateway's refresh) is taken instead of calling the backend."""
        if key.id in self._flights:
            return
        # The flight is registered now, not when the task starts: the next stale request must see it.
        future = self._begin(key.id)
        refresh = self._refresh(engine, route_id, key, answer, future, what, shared)
        task = asyncio.get_running_loop().create_task(refresh)
        self._refreshes.add(task)
        task.add_done_callback(self._refreshes.discard)

    async def _refresh(
        self,
        engine: Engine,
        route_id: int,
        key: CacheKey,
        answer: Callable[[], Awaitable[Response]],
        future: asyncio.Future[tuple[Response, bool]],
        what: str,
        shared: SharedStage | None,
    ) -> None:
        try:
            response, _ = await self._lead(engine, route_id, key, answer, future, shared)
        except Exception as error:  # any failure leaves the stale entry in place
            # The error's kind only: its text may name the backend's address and query.
            reason = type(error).__name__
            log.warning("stale cache entry of %s not refreshed: %s; it is served until its window ends", what, reason)
            return
        if response.stream is not None:
            response.stream.abort()  # too large to cache, and nobody reads it
        if not 200 <= response.status < 300:
            log.warning(
                "stale cache entry of %s not refreshed: the backend answered %d; it is served until its window ends",
                what,
                response.status,
            )

    def _begin(self, flight_id: bytes) -> asyncio.Future[tuple[Response, bool]]:
        future: asyncio.Future[tuple[Response, bool]] = asyncio.get_running_loop().create_future()
        self._flights[flight_id] = future
        return future

    async def _lead(
        self,
        engine: Engine,
        route_id: int,
        key: CacheKey,
        answer: Callable[[], Awaitable[Response]],
        future: asyncio.Future[tuple[Response, bool]],
        shared: SharedStage | None = None,
        *,
        read_shared: bool = True,
    ) -> tuple[Response, bool]:
        """Runs the integration for a flight begun with :meth:`_begin` (or takes the shared tier's entry), stores
        a cacheable response and hands a copy to the requests that waited; True when it is the shared tier's."""
        tier = self.shared_tier if shared is not None else None
        try:
            lookup = await tier.lookup(shared, key.id) if tier is not None and shared is not None else None
            found = lookup.response if lookup is not None and read_shared else None
            response = found if found is not None else await answer()
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # followers see it; nobody else needs to retrieve it
            raise
        finally:
            del self._flights[key.id]
        if found is not None:
            # Kept here for the life the entry has left in the shared tier, not a whole TTL.
            assert lookup is not None
            engine.cache_store(route_id, key, found.status, found.headers, found.body, ttl_ms=lookup.ttl_ms)
        elif self._cacheable(response):
            engine.cache_store(route_id, key, response.status, response.headers, response.body)
            if tier is not None and shared is not None and lookup is not None:
                tier.store(shared, lookup, route_id, key.id, response)
        if not future.done():
            future.set_result((Response(response.status, list(response.headers), response.body), found is not None))
        return response, found is not None

    def _cacheable(self, response: Response) -> bool:
        if response.stream is not None or not 200 <= response.status < 300 or len(response.body) > MAX_CACHED_BODY:
            return False
        return not (self.respect_backend_cache_control and _private(response.headers))


def cached_response(cached: Cached, *, stale: bool = False) -> Response:
    """A response served from the cache, with the warning headers it calls for."""
    headers = cached.headers
    if cached.warn:
        headers.append(IGNORED_REFRESH_WARNING)
    if stale:
        headers.append(STALE_WARNING)
    return Response(cached.status, headers, cached.body)


def _private(headers: Sequence[tuple[str, str]]) -> bool:
    for name, value in headers:
        if name.lower() == "cache-control":
            directives = {part.strip().split("=", 1)[0].lower() for part in value.split(",")}
            if directives & {"no-store", "private"}:
                return True
    return False
