"""The data plane: an RSGI application served by Granian; the pipeline reads top to bottom in ``__rsgi__``.

1. Limits: header size (and, in the integration, body size).
2. Site: the host and base path select an API stage (custom-domain style mappings, ``/{stage}`` prefixes).
3. Admission: one call into Rust, :meth:`Engine.admit`, matches the route (and, as they land, checks keys,
   throttles and the cache) and returns ``Forward`` or ``Reject``.
4. Integration: the route's compiled handler answers (HTTP backend, mock).
5. Response: sent whole, or streamed; gateway responses for every rejection and failure come from
   :mod:`fastgw.responses`, rendered once. A crash in one request answers 500 and is logged with its request id.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from granian._granian import RSGIProtocolClosed  # granian.rsgi re-exports it, but not for mypy

from fastgw._core import Cached, Metrics, Reject, RequestIds, normalize_path
from fastgw.admission import NodeAdmission, WorkerAdmission, stage_engines
from fastgw.caching import WorkerCache, cached_response
from fastgw.client_window import ClientGoneError, ClientWindow
from fastgw.config.gateway_file import MappingTable
from fastgw.config.settings import RedisSettings
from fastgw.errors import ClientDisconnectedError, GatewayError, IntegrationUnreachableError
from fastgw.integrations.base import BODY_READ, Request, Response, check_transfer_codings, declared_body_length
from fastgw.integrations.upstream import UpstreamPools
from fastgw.observability.metrics import Field, NodeCounter
from fastgw.observability.node import RESPONSE_TYPE_FIELDS, NodeObservability, StageLog, record_spans
from fastgw.observability.tracing import GatewayTracer, build_tracer
from fastgw.routing import StageRuntime
from fastgw.shared_cache import SharedTier
from fastgw.validation import check_body

log = logging.getLogger("fastgw")
CACHE_HIT = int(Field.CACHE_HIT)
CACHE_MISS = int(Field.CACHE_MISS)
UPSTREAM_ERROR = int(Field.UPSTREAM_ERROR)


def add_id_headers(headers: list[tuple[str, str]], api_type: str, request_id: str, extended_id: str) -> None:
    """Every answer carries the request ids: REST ``x-amzn-RequestId`` and ``x-amz-apigw-id``, HTTP APIs
    ``apigw-requestid`` (reference §2.1)."""
    if api_type == "REST":
        headers.append(("x-amzn-RequestId", request_id))
        headers.append(("x-amz-apigw-id", extended_id))
    else:
        headers.append(("apigw-requestid", extended_id))


class Sites:
    """Which API stage serves a request: base path mappings by host and path (reference §13)."""

    def __init__(self, table: MappingTable, runtimes: Mapping[tuple[str, str], StageRuntime]) -> None:
        self.table = table
        self.by_mapping = {mapping: runtimes[(mapping.api, mapping.stage)] for mapping in table.mappings}
        self.runtimes = list(dict.fromkeys(self.by_mapping.values()))
        only = table.mappings[0] if len(table.mappings) == 1 else None
        self.only = self.by_mapping[only] if only is not None and not only.base_path and only.host is None else None
        """The one stage served at the root of every host, when that is all there is (the fast path)."""

    def select(self, host: str | None, path: str) -> tuple[StageRuntime, str] | None:
        found = self.table.select(host, path)
        if found is None:
            return None
        mapping, rest = found
        return self.by_mapping[mapping], rest


class GatewayApp:
    """The RSGI application. Built once in the parent process; each worker calls ``__rsgi_init__``."""

    def __init__(
        self,
        sites: Sites,
        *,
        proto: str = "http",
        port: int = 8080,
        admission: NodeAdmission | None = None,
        observability: NodeObservability | None = None,
        respect_backend_cache_control: bool = False,
        shared_cache_redis: RedisSettings | None = None,
        http2: bool = False,
    ) -> None:
        """``shared_cache_redis``: where the shared cache tier lives, when a stage uses it (``cacheSharedTier``).
        ``http2``: the listener serves HTTP/2 too (then a request without ``Content-Length`` may have a body)."""
        self.http2 = http2
        self.cache = WorkerCache(respect_backend_cache_control=respect_backend_cache_control)
        self.shared_cache_redis = shared_cache_redis
        self.sites = sites
        self.admission = admission
        self.worker_admission: WorkerAdmission | None = None
        self.observability = observability
        self.metrics: Metrics | None = observability.metrics if observability else None
        """Counting into the node's shared region (``None``: metrics off, nothing counted)."""
        self.log_writers: dict[str, StageLog] = {}
        self.tracer: GatewayTracer | None = None
        self.proto = proto
        self.port = port
        self.port_text = str(port)
        self.ids = RequestIds(secrets.token_bytes(16))
        self.pools: UpstreamPools | None = None
        self._only = sites.only
        self._answer_from_cache: Callable[[Any, Any, RequestIds], bool] | None = None
        """The one stage's cache-hit fast path (``Engine.answer_from_cache``), when it has one."""
        default = sites.runtimes[0] if sites.runtimes else None
        self._no_site_responses = default.responses if default else None
        self.on_worker_ready: Callable[[], None] | None = None
        """Called at the end of ``__rsgi_init__``, when the worker is about to serve (see WorkerReadiness)."""

    # -- lifecycle (RSGI hooks) -------------------------------------------------------------------

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.ids = RequestIds(secrets.token_bytes(16))  # drawn in each worker process
        self.pools = UpstreamPools(loop)
        for runtime in self.sites.runtimes:
            runtime.bind(self.pools, proto=self.proto, port=self.port)
        if self.admission is not None and (self.admission.uses_store() or self.admission.redis is not None):
            engines = stage_engines(self.sites.runtimes)
            observability = self.observability
            on_fallback = (lambda: observability.count(NodeCounter.REDIS_FALLBACKS)) if observability else None
            self.worker_admission = WorkerAdmission(self.admission, engines, on_fallback)
            self.worker_admission.start(loop)
        if self.observability is not None:
            self.log_writers = self.observability.open_writers()
            for runtime in self.sites.runtimes:
                runtime.access_log = self.observability.writer_for(
                    self.log_writers, runtime.api_name, runtime.stage_name
                )
            self.tracer = build_tracer(self.observability.otlp_endpoint)
        if self.shared_cache_redis is not None:
            cache_observability = self.observability
            on_cache_fallback = (
                (lambda: cache_observability.count(NodeCounter.REDIS_FALLBACKS)) if cache_observability else None
            )
            self.cache.shared_tier = SharedTier(self.shared_cache_redis.url, on_fallback=on_cache_fallback)
            shared_stages = [(r.shared_cache, r.engine) for r in self.sites.runtimes if r.shared_cache is not None]
            self.cache.shared_tier.watch(loop, shared_stages)
        # The cache-hit fast path: one stage, its cache on, and nothing but the engine acting on its requests.
        only = self._only
        fast = only is not None and only.cache_enabled and self._plain(only)
        self._answer_from_cache = only.engine.answer_from_cache if only is not None and fast else None
        # Everything built so far lives as long as the worker: keep the cyclic GC off it, and let the
        # short-lived per-request objects (futures, tuples) go in larger batches.
        # (What the parent built before forking is frozen there already: see LiveGateway.)
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        if self.on_worker_ready is not None:
            self.on_worker_ready()

    def _plain(self, runtime: StageRuntime) -> bool:
        """Nothing but the Rust engine acts on this stage's requests: no CORS, compression, validators, metrics,
        access logs or spans (their hits take the full path)."""
        return (
            runtime.api_type == "REST"
            and runtime.cors is None
            and runtime.compression is None
            and all(route.validator is None for route in runtime.routes)
            and self.metrics is None
            and not self.log_writers
            and (self.observability is None or self.observability.otlp_endpoint is None)
        )

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.pools is not None:
            self.pools.close()
        for writer in self.log_writers.values():
            writer.close()
        if self.tracer is not None:
            self.tracer.shutdown()
        if self.cache.shared_tier is not None and loop.is_running():
            loop.create_task(self.cache.shared_tier.close())
        if self.worker_admission is not None:
            # Gives unspent quota blocks back to the store; the loop may already be stopped or closed.
            try:
                if loop.is_running():
                    loop.create_task(self.worker_admission.close())
                elif not loop.is_closed():
                    loop.run_until_complete(self.worker_admission.close())
            except Exception as error:
                log.warning("worker shutdown: %s", error)

    # -- one request ------------------------------------------------------------------------------

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        answer_from_cache = self._answer_from_cache
        if answer_from_cache is not None and answer_from_cache(scope, protocol, self.ids):
            return  # a stage cache hit, answered by one call into Rust (see __rsgi_init__)
        if scope.proto != "http":
            protocol.close(403)  # WebSocket APIs come with their own issue
            return
        runtime = self._only
        start = time.perf_counter()
        request_id, extended_id = self.ids.next()
        path: str = scope.path
        if runtime is None:
            if "." in path or "\ufffd" in path:
                try:  # dot segments go before the base path mappings see the path (admit does it for one site)
                    path = normalize_path(path)
                except ValueError:
                    self._send_no_site(scope, protocol, request_id, extended_id, "BAD_REQUEST")
                    return
            selected = self.sites.select(scope.headers.get("host"), path)
            if selected is None:
                self._send_no_site(scope, protocol, request_id, extended_id, "FORBIDDEN")
                return
            runtime, path = selected
        method: str = scope.method
        query: str = scope.query_string
        headers = scope.headers.items()
        client: str = scope.client
        request = Request(
            scope, protocol, method, path, query, headers, runtime, request_id, extended_id, start, client
        )
        metrics = self.metrics
        if metrics is not None:
            metrics.gauge_add(runtime.metric_slots.in_flight, 1)
        try:
            await self._serve(request, runtime, method, path, headers, query, client)
        finally:
            if metrics is not None:
                slots = runtime.metric_slots
                route_id = request.route_id
                response = request.response
                metrics.record(
                    slots.first_slot if route_id is None else slots.first_slot + 1 + route_id,
                    method,
                    500 if response is None else response.status,
                    request.start_time,
                    request.integration_seconds,
                    request.metric_field,
                    slots.in_flight,
                )
            access_log = runtime.access_log
            if access_log is not None:
                try:
                    access_log.write(request, runtime)
                except Exception:  # a log line never fails a request
                    log.exception("request %s: access log failed", request.request_id)
            if self.tracer is not None:
                self._observe(request, runtime)

    __call__ = __rsgi__

    async def _serve(
        self,
        request: Request,
        runtime: StageRuntime,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        query: str,
        client: str,
    ) -> None:
        protocol = request.protocol
        request_id = request.request_id
        cors = runtime.cors
        try:
            preflight = cors.preflight(request) if cors is not None else None
            if preflight is not None:
                response = preflight  # HTTP API CORS: the gateway answers preflight itself, before routing
            else:
                response = await self._answer(request, runtime, method, path, headers, query, client)
        except GatewayError as error:
            if isinstance(error, IntegrationUnreachableError):
                request.metric_field = UPSTREAM_ERROR
            elif isinstance(error, ClientDisconnectedError):
                log.info("request %s: %s", request_id, error)  # the client's doing: one quiet line
            response = self._gateway_response(runtime, error.response_type, request, error.message)
        except Exception:
            log.exception("request %s failed", request_id)
            response = self._gateway_response(runtime, "DEFAULT_5XX", request)
        if cors is not None:
            cors.apply(request, response)
        if runtime.compression is not None:
            response = runtime.compression.apply(request, response)
        response_headers = response.headers
        add_id_headers(response_headers, runtime.api_type, request_id, request.extended_request_id)
        if request.body_state != BODY_READ and request.body_length and not await request.discard_unread_body():
            response_headers.append(("connection", "close"))  # part of the body is unread (issue 18, item 4)
        request.response = response
        if response.stream is None:
            protocol.response_bytes(response.status, response_headers, response.body)
        else:
            await self._stream(request, response)

    def _observe(self, request: Request, runtime: StageRuntime) -> None:
        """Hands the request's spans to the exporter: never raises. (Its access-log line is written in
        ``__rsgi__``: the line's generated function reads what its format needs.)"""
        try:
            if self.tracer is not None and request.trace is not None:
                response = request.response
                status = response.status if response is not None else 500
                latency = time.perf_counter() - request.start_time
                record_spans(self.tracer, request, runtime, status, latency, request.integration_seconds)
        except Exception:
            log.exception("request %s: spans failed", request.request_id)

    async def _answer(
        self,
        request: Request,
        runtime: StageRuntime,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        query: str,
        client: str,
    ) -> Response:
        # The one call into Rust: limits, path re-encoding, route match, API key and throttle, upstream head
        # (with the trace headers) for plain proxies.
        decision = runtime.engine.admit(
            method, path, headers, query, client, self.proto, self.port_text, request.request_id, request.scope
        )
        if type(decision) is Reject:
            if decision.route_id is not None:
                request.route_id = decision.route_id
                request.route = runtime.routes[decision.route_id]
            return self._gateway_response(runtime, decision.response_type, request, decision.message)
        request.route_id = decision.route_id
        request.key_slot = decision.key_slot
        if self.worker_admission is not None and (
            decision.plan_slot is not None or decision.deferred_throttle is not None
        ):
            # The shared throttle and the quota, for cache hits too: AWS throttles before the cache and counts
            # every request a key makes (issue 18, items 14 and 15).
            refused = await self.worker_admission.check(runtime.engine, decision)
            if refused is not None:
                return self._gateway_response(runtime, refused, request)
        if type(decision) is Cached:
            return await self._cached(request, runtime, decision)
        request.trace = decision.trace
        request.path = decision.path
        request.params = decision.params
        request.upstream_head = decision.head
        request.body_length = decision.body_length
        if decision.body_length is None and self.http2 and request.scope.http_version == "2":
            await self._read_http2_body(request)
        elif decision.body_length == -1:
            check_transfer_codings(headers)  # a coding but chunked would reach the backend undeclared
        route = request.route = runtime.routes[decision.route_id]
        if decision.body_model is not None:  # the request validator's model (parameters were checked in admit)
            check_body(decision.body_model, await request.read_body())
        integration = route.integration
        if integration is None:
            return self._gateway_response(runtime, "API_CONFIGURATION_ERROR", request)
        if decision.stale is not None and decision.cache_key is not None:
            # Stale-while-revalidate: answered now from the expired entry, refreshed in the background.
            request.metric_field = CACHE_HIT
            refresh = integration.invoke
            self.cache.refresh(
                runtime.engine,
                decision.route_id,
                decision.cache_key,
                lambda: refresh(request),
                route.route_key,
                runtime.shared_cache,
            )
            return cached_response(decision.stale, stale=True)
        started = time.perf_counter()
        try:
            if decision.cache_key is None:
                return await integration.invoke(request)
            request.metric_field = CACHE_MISS
            response, from_shared_tier = await self.cache.fetch(
                runtime.engine,
                decision.route_id,
                decision.cache_key,
                lambda: integration.invoke(request),
                runtime.shared_cache,
                # A client's authorized refresh (max-age=0) must reach the backend, not the shared entry.
                read_shared=not decision.cache_refresh,
            )
            if from_shared_tier:
                request.metric_field = CACHE_HIT  # answered by the cache, not the backend
            return response
        finally:
            request.integration_seconds = time.perf_counter() - started

    @staticmethod
    async def _read_http2_body(request: Request) -> None:
        """HTTP/2 frames a body with DATA frames, not headers: a request without ``Content-Length`` may still have
        one. It is read whole (within the body limit) and forwarded with its length; before, it was dropped."""
        request.body_length = -1
        body = await request.read_body()
        request.body_length = len(body) if body else None
        if body:
            request.upstream_head = None  # the engine wrote it for a request without a body

    async def _cached(self, request: Request, runtime: StageRuntime, cached: Cached) -> Response:
        """A cache hit. Method request validation still applies, as on AWS (it comes before the cache)."""
        request.route_id = cached.route_id
        request.route = runtime.routes[cached.route_id]
        if cached.body_model is not None:
            check_body(cached.body_model, await request.read_body())
        request.metric_field = CACHE_HIT
        return cached_response(cached)

    @staticmethod
    def _gateway_response(
        runtime: StageRuntime, response_type: str, request: Request | None = None, message: str | None = None
    ) -> Response:
        if request is not None:
            request.response_type = response_type
            field = RESPONSE_TYPE_FIELDS.get(response_type)
            if field is not None:
                request.metric_field = field
        rendered = runtime.responses.render(response_type, message, request=request)
        return Response(rendered.status, rendered.headers.copy(), rendered.body)

    @staticmethod
    async def _stream(request: Request, response: Response) -> None:
        stream = response.stream
        assert stream is not None
        transport = request.protocol.response_stream(response.status, response.headers)
        route = request.route
        idle_timeout = getattr(route.integration, "timeout", 30.0) if route else 30.0
        # Granian queues whatever it is sent; the window holds the stream to what the client has taken.
        window = ClientWindow.open(request.scope, request.stage.limits.client_send_timeout)
        try:
            if response.body:
                await transport.send_bytes(response.body)
                if window is not None:
                    await window.sent(len(response.body))
            async for chunk in stream.chunks(idle_timeout):
                await transport.send_bytes(chunk)
                if window is not None:
                    await window.sent(len(chunk))
        except Exception as error:  # the client went away or stalled, or the backend broke off mid-body
            stream.abort()
            # A client that went away or stalled is its own doing: one quiet line (issue 18, item 10; raising, as
            # this once did, had Granian log an ERROR with a traceback, and ended the response no differently).
            if isinstance(error, RSGIProtocolClosed):  # Granian's transport is closed: the client is gone
                log.info("request %s: the client closed the connection during the response", request.request_id)
                return
            if isinstance(error, ClientGoneError):
                log.info("request %s: streamed response cut short: %s", request.request_id, error)
            elif isinstance(error, GatewayError):
                log.warning("request %s: streamed response cut short: %s", request.request_id, error)
            else:
                log.exception("request %s: streamed response failed", request.request_id)
            # The client must see a truncated response, never a clean end. Granian ends a streamed response
            # cleanly whether the app returns or raises (a chunked one with its last chunk; one framed by the
            # backend's Content-Length comes out short, which the client sees), so on HTTP/1 the connection is
            # reset, which also frees a stalled client's connection (Granian would wait forever to write to a
            # client that reads nothing). On HTTP/2 the connection carries other requests: the stream just ends.
            if window is not None and request.scope.http_version != "2":
                window.cut()
        finally:
            if window is not None:
                window.close()

    def _send_no_site(self, scope: Any, protocol: Any, request_id: str, extended_id: str, response_type: str) -> None:
        """A request answered before any API is chosen: ``FORBIDDEN`` when no API is mapped at its host and base
        path (REST answers 403 Forbidden, HTTP APIs 404), ``BAD_REQUEST`` when its path cannot be routed. A
        request with a body (unread) is answered with ``Connection: close``: a client this lost gains nothing from
        keeping the connection, and hyper closes it anyway (issue 18, item 4)."""
        responses = self._no_site_responses
        if responses is None:
            headers = [("content-type", "application/json")]
            status, body = 404, b'{"message":"Not Found"}'
        else:
            rendered = responses.render(response_type)
            headers = [*rendered.headers]
            add_id_headers(headers, responses.api_type, request_id, extended_id)
            status, body = rendered.status, rendered.body
        if declared_body_length(scope.headers.items()) and scope.http_version != "2":
            headers.append(("connection", "close"))
        protocol.response_bytes(status, headers, body)
